package protocol

import (
	"bytes"
	"crypto/sha256"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// Deterministic sample values: keys from fixed scalars, RFC 6979
// signatures over fixed hashes, fixed transactions. Golden vectors depend
// on them; do not change without -update and a reason.

func testPriv(n byte) *btcec.PrivateKey {
	var b [32]byte
	b[0], b[31] = 0x11, n
	k, _ := btcec.PrivKeyFromBytes(b[:])
	return k
}

func testPub(n byte) *btcec.PublicKey { return testPriv(n).PubKey() }

func testSig(n byte) []byte {
	h := sha256.Sum256([]byte{n})
	return ecdsa.Sign(testPriv(n), h[:]).Serialize()
}

func testHash(n byte) chainhash.Hash {
	return chainhash.Hash(sha256.Sum256([]byte{'h', n}))
}

func testSwapID() SwapID {
	var id SwapID
	for i := range id {
		id[i] = byte(0xa0 + i)
	}
	return id
}

func testMultisig(n byte) []byte {
	s := []byte{0x52, 0x21}
	s = append(s, testPub(n).SerializeCompressed()...)
	s = append(s, 0x21)
	s = append(s, testPub(n+1).SerializeCompressed()...)
	return append(s, 0x52, 0xae)
}

func testContractScript(n byte) []byte {
	h := sha256.Sum256([]byte{'c', n})
	s := []byte{0x82, 0x7c, 0xa9, 0x14}
	s = append(s, h[:20]...)
	s = append(s, 0x87, 0x63, 0x21)
	s = append(s, testPub(n).SerializeCompressed()...)
	s = append(s, 0x01, 0x20, 0x00, 0x67, 0x21)
	s = append(s, testPub(n+1).SerializeCompressed()...)
	return append(s, 0x00, 0x01, 0x3c, 0x68, 0xb2, 0x75, 0x7b, 0x88, 0xac)
}

func p2wpkh(n byte) []byte {
	return append([]byte{0x00, 0x14}, bytes.Repeat([]byte{n}, 20)...)
}

// testFundingTx: 2 P2WPKH inputs with witnesses, 2 P2WPKH outputs: a
// realistic wallet payment (~370 bytes).
func testFundingTx(n byte) *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	for i := byte(0); i < 2; i++ {
		in := wire.NewTxIn(wire.NewOutPoint(ptr(testHash(n+i)), uint32(i)), nil, nil)
		in.Sequence = 0xfffffffd
		in.Witness = wire.TxWitness{append(testSig(n+i), 0x01), testPub(n + i).SerializeCompressed()}
		tx.AddTxIn(in)
	}
	tx.AddTxOut(wire.NewTxOut(250_000+int64(n), p2wpkh(n)))
	tx.AddTxOut(wire.NewTxOut(1_234_567, p2wpkh(n+1)))
	tx.LockTime = 800_000
	return tx
}

// testContractTx: 1 input (funding outpoint, nSequence 0), 1 P2WSH output,
// unsigned: the shape of a contract transaction.
func testContractTx(n byte) *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	in := wire.NewTxIn(wire.NewOutPoint(ptr(testHash(n)), 0), nil, nil)
	in.Sequence = 0
	tx.AddTxIn(in)
	tx.AddTxOut(wire.NewTxOut(249_700, append([]byte{0x00, 0x20}, bytes.Repeat([]byte{n}, 32)...)))
	return tx
}

func ptr[T any](v T) *T { return &v }

// testFundingProof: a 2-input funding tx paying 250,000 sat to a P2WSH
// and change, without witnesses, and each input's key and signature.
func testFundingProof(n byte) FundingProof {
	tx := wire.NewMsgTx(2)
	for i := byte(0); i < 2; i++ {
		tx.AddTxIn(wire.NewTxIn(wire.NewOutPoint(ptr(testHash(n+i)), uint32(i)), nil, nil))
	}
	tx.AddTxOut(wire.NewTxOut(250_000, append([]byte{0x00, 0x20}, bytes.Repeat([]byte{n}, 32)...)))
	tx.AddTxOut(wire.NewTxOut(31_337, append([]byte{0x00, 0x14}, bytes.Repeat([]byte{n + 1}, 20)...)))
	return FundingProof{Tx: tx, Inputs: []InputProof{
		{PubKey: testPub(n + 2), Sig: testSig(n + 2)},
		{PubKey: testPub(n + 3), Sig: testSig(n + 3)},
	}}
}

func testFidelity(n byte) FidelityProof {
	return FidelityProof{
		BondOutPoint: wire.OutPoint{Hash: testHash(0xb0 + n), Index: 1},
		BondValue:    50_000_000,
		LockHeight:   900_000,
		BondPubKey:   testPub(0xb0 + n),
		CertExpiry:   850_000,
		Addr:         testOnion(n),
		CertSig:      testSig(0xb0 + n),
	}
}

func testOnion(n byte) string {
	return string(bytes.Repeat([]byte{'a' + n%26}, 56)) + ".onion:8080"
}

// testSetupHop: a SetupHop with txs incoming outputs and next-hop keys,
// the largest message of a real swap.
func testSetupHop(txs int) *SetupHop {
	m := &SetupHop{SwapID: testSwapID(), Hash: [20]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20},
		InLocktime: 60, OutLocktime: 40, FundingFeeRate: 2000, ContractFeeRate: 4000, Reimbursement: 918}
	copy(m.OfferHash[:], bytes.Repeat([]byte{0xa5}, len(m.OfferHash)))
	for i := 0; i < txs; i++ {
		n := byte(10 * (i + 1))
		m.Incoming = append(m.Incoming, IncomingOutput{
			FundingOutPoint: wire.OutPoint{Hash: testHash(n), Index: uint32(i)},
			FundingValue:    250_000 + int64(n),
			MultisigScript:  testMultisig(n),
			MultisigNonce:   testPriv(n + 2),
			HashlockNonce:   testPriv(n + 3),
			TimelockPubKey:  testPub(n + 4),
			ContractTx:      testContractTx(n + 5),
			SenderSig:       testSig(n + 6),
			Proof:           testFundingProof(n + 9),
		})
		m.Outgoing = append(m.Outgoing, NextHopKeys{MultisigPubKey: testPub(n + 7), HashlockPubKey: testPub(n + 8)})
	}
	return m
}

// sampleMessages returns one deterministic instance of every message.
func sampleMessages() []Message {
	id := testSwapID()
	var hello Hello
	hello = Hello{MinVersion: 1, MaxVersion: 1, Network: Regtest, Features: Features(nil).Set(1).Set(10), UserAgent: "onionswap/0.1.0"}
	for i := range hello.Nonce {
		hello.Nonce[i] = byte(i)
	}
	var pre [32]byte
	for i := range pre {
		pre[i] = byte(0x50 + i)
	}
	return append([]Message{
		&hello,
		&Error{Code: CodeWrongNetwork, SwapID: &id, Text: "we are on regtest, peer on mainnet"},
		&Ping{Nonce: 0x0102030405060708, PongPadding: 16},
		&Pong{Nonce: 0x0102030405060708, Padding: make([]byte, 16)},
		&OfferRequest{},
		&Offer{
			BaseFee: 1000, AmountFeePPB: 1_000_000, TimeFeePPB: 10_000, MinSize: 10_000, MaxSize: 100_000_000,
			MinLocktime: 20, RequiredConfirms: 1, TweakablePoint: testPub(1), Fidelity: testFidelity(1),
		},
		testSetupHop(2),
		&SetupHopReply{SwapID: id, ReceiverSigs: [][]byte{testSig(1), testSig(2)}, Outgoing: []OutgoingOutput{
			{FundingOutPoint: wire.OutPoint{Hash: testHash(20), Index: 1}, FundingValue: 240_000, MultisigScript: testMultisig(21),
				TimelockPubKey: testPub(22), ContractTx: testContractTx(23), SenderSig: testSig(24),
				Proof: testFundingProof(25)},
		}},
		&FundHop{SwapID: id, ReceiverSigs: [][]byte{testSig(3), testSig(4)}},
		&FundingBroadcast{SwapID: id, Txids: []chainhash.Hash{testHash(30), testHash(31)}},
		&Preimage{SwapID: id, Preimage: pre},
		&PrivKeyHandover{SwapID: id, Keys: []*btcec.PrivateKey{testPriv(51), testPriv(52)}},
		&Abort{SwapID: id, Reason: "maker 2 refused: insufficient liquidity"},
		&WaitingFundingConfirmation{SwapID: id},
		&TrustRequest{},
		testTrustProofs(),
		&Register{Addr: testOnion(2), Proof: testFidelity(2)},
		&RegisterAck{TTLSeconds: 1800},
		&RegisterChallenge{Nonce: [32]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}},
		&RegisterResponse{Sig: testSig(9)},
		&Nack{Code: CodeInvalidFidelityProof, Text: "bond output not found"},
		&ListRequest{},
		&ListReply{Entries: []DirEntry{
			{Addr: testOnion(3), Proof: testFidelity(3), LastSeen: 1_700_000_000},
			{Addr: testOnion(4), Proof: testFidelity(4), LastSeen: 1_700_000_600},
		}},
	}, append(append(samplePoolMessages(), sampleChatMessages()...), sampleCoinJoinMessages()...)...)
}

func testTrustProofs() *TrustProofs {
	var origin [XOnlyKeySize]byte
	copy(origin[:], testPub(60).SerializeCompressed()[1:])
	p := SwapProof{FundingOutPoint: wire.OutPoint{Hash: testHash(61), Index: 1}, Value: 250_000,
		PubKeys: [2]*btcec.PublicKey{testPub(62), testPub(63)}, Signer: 1, Role: ProofRoleReceiver,
		FundingBlock: testHash(64), SpendBlock: testHash(65), Origin: origin, Timestamp: 1_700_000_000}
	d := p.Digest()
	p.Sig = ecdsa.Sign(testPriv(63), d[:]).Serialize()
	return &TrustProofs{Origin: origin, Proofs: []SwapProof{p}}
}
