// Package script builds, parses, signs and verifies every Bitcoin script and
// transaction template onionswap puts on chain: the 2-of-2 funding output,
// the HTLC contract, its hashlock, timelock and cooperative spends, and the
// fidelity bond with its certificate and value.
//
// The package is pure: it never talks to a node. Chain lookups (does the
// bond exist, is it unspent, when did it confirm) belong to package wallet,
// which feeds the answers into the checks here. Every function that returns a
// signed transaction has already run it through txscript's engine with
// StandardVerifyFlags (see Verify), so a caller never broadcasts something the
// node would reject for script reasons.
//
// # Funding output (2-of-2)
//
//	OP_2 <pk_low> <pk_high> OP_2 OP_CHECKMULTISIG            (71 bytes, P2WSH)
//
// Keys are sorted by their 33-byte compressed serialization so both parties
// derive the same script without negotiating an order. Spend witness:
//
//	<empty> <sig_low> <sig_high> <script>
//
// # HTLC contract
//
// The contract output pays P2WSH of this script (102–105 bytes depending on
// the size of the CSV push):
//
//	OP_SIZE 32 OP_EQUAL
//	OP_IF
//	    OP_HASH160 <H:20> OP_EQUALVERIFY <hashlock_pk:33>
//	OP_ELSE
//	    <timelock_pk:33> <csv> OP_CHECKSEQUENCEVERIFY OP_DROP
//	OP_ENDIF
//	OP_CHECKSIG
//
//	hex: 82 0120 87 63 a9 14<H> 88 21<hashlock_pk> 67 21<timelock_pk> <push(csv)> b2 75 68 ac
//
// Why this shape:
//   - The branch is chosen by the size of the top witness element, so the
//     hashlock branch only runs with an element of exactly 32 bytes, and no
//     separate OP_SIZE…OP_EQUALVERIFY is needed. Without a fixed size, the
//     party who picks the preimage could pick one larger than the 80-byte
//     standardness limit for P2WSH witness items: its own claim would go to
//     a miner directly, while the victim's claim with the same preimage
//     would not relay and the victim's refund would lose the race. A DER
//     signature is 9–73 bytes and never 32 bytes in practice (r and s are
//     ~32 bytes each), so the timelock spender's signature always selects
//     the ELSE branch.
//   - The timelock witness has no dummy element: {sig, script}. A third party
//     cannot add one (CLEANSTACK, consensus for segwit v0) and cannot change
//     the 32-byte element of a hashlock spend (it must hash to H), so
//     neither spend is malleable.
//   - Hash: HASH160 (RIPEMD160(SHA256(preimage))), 20 bytes, as in the
//     legacy CoinSwap protocol.
//
// # No CSV on the hashlock branch (child pays for parent)
//
// Belcher's design (teleport, citadel coinswap before commit fb393e23) put
// a 1-block CSV on the hashlock branch so that no child could spend an
// unconfirmed contract tx (anti-pinning). onionswap follows the lead's
// design decision 7 instead: the hashlock branch has no relative lock, so
// the hashlock claim can spend the contract tx while it is in the mempool
// and pay a fee that carries it (CPFP) when the pre-signed contract fee is
// too low for the market. Pinning by a low-fee hashlock child reveals the
// preimage in the mempool, where every upstream party's watcher reads it
// and uses it on its own hop: no loss. The timelock spend (CSV ≥ 1) can
// never be a CPFP child, so the contract fee rate itself carries a safety
// multiplier (node/swap). The hashlock claimant's window is the full csv
// blocks after the contract confirms.
//
// # Spend rules (all transactions are version 2)
//
//	contract tx       1 input (funding 2-of-2), nSequence 0xfffffffd, nLockTime 0,
//	                  1 output P2WSH(contract) = funding value − fee
//	hashlock spend    witness {sig, preimage(32), script}, nSequence 0xfffffffd (HashlockSequence)
//	timelock spend    witness {sig, script},               nSequence = csv
//	cooperative spend witness {<empty>, sig_low, sig_high, multisig script},
//	                  nSequence 0xfffffffd, nLockTime 0
//	bond redeem       witness {sig, bond script}, nSequence 0xfffffffe,
//	                  nLockTime = bond lock height
//
// Version 2 is required for BIP68 (OP_CHECKSEQUENCEVERIFY compares against
// nSequence only for version ≥ 2). 0xfffffffd has the BIP68 disable bit set
// (no relative lock) and signals BIP125 replaceability; 0xfffffffe keeps
// nLockTime enforced (a final 0xffffffff sequence would disable it and
// OP_CHECKLOCKTIMEVERIFY would fail).
//
// # Fidelity bonds
//
//	<pubkey> OP_CHECKSIGVERIFY <lock_height> OP_CHECKLOCKTIMEVERIFY    (P2WSH)
//
// Only block-height locktimes (< 500,000,000) are accepted: timestamp
// locktimes are mined only after the wall clock passes them on btcd and make
// the expiry harder to reason about. The witness is {sig, script}; the final
// stack is the lock height, which is non-zero and therefore true. The bond
// value follows JoinMarket's formula (BondValue), and BondCert binds a bond
// to the maker's onion address until an expiry height (see cert.go for the
// exact message). CheckBond runs every check that needs no chain access and
// returns a specific error for each failure.
//
// # Keys
//
// Maker keys for swap outputs are derived from the maker's published
// tweakable point P and a taker-chosen nonce n: the public key P + n·G
// (TweakPubKey) is known to the taker at once, and the maker derives the
// private key p + n (TweakPrivKey) when it receives n.
package script
