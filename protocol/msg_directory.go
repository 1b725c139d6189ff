package protocol

import (
	"bytes"
	"crypto/sha256"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/wire"
)

// FidelityProof binds a time-locked bond to the onion address it
// certifies (coinswap-reference §3). The directory and every taker verify
// it against their own node; this package only checks syntax.
//
//	outpoint BondOutPoint | u64 BondValue | u32 LockHeight |
//	[33] BondPubKey | u32 CertExpiry | addr Addr | sig CertSig
type FidelityProof struct {
	BondOutPoint wire.OutPoint
	BondValue    int64  // sat
	LockHeight   uint32 // absolute CLTV height of the bond
	BondPubKey   *btcec.PublicKey
	CertExpiry   uint32 // block height after which the certificate is void
	Addr         string // onion "host:port" the certificate is for
	CertSig      []byte // strict DER by BondPubKey over the certificate
}

const (
	maxFidelityProofSize = OutPointSize + amountSize + 4 + PubKeySize + 4 + maxAddrField + maxSigField
	minFidelityProofSize = OutPointSize + amountSize + 4 + PubKeySize + 4 + u16Size + 1 + u16Size + MinSigLen
)

func (p *FidelityProof) encode(w *Writer, prefix string) {
	w.OutPoint(p.BondOutPoint)
	w.Amount(prefix+"BondValue", p.BondValue)
	w.U32(p.LockHeight)
	w.PubKey(prefix+"BondPubKey", p.BondPubKey)
	w.U32(p.CertExpiry)
	w.Addr(prefix+"Addr", p.Addr)
	w.Sig(prefix+"CertSig", p.CertSig)
}

// EncodeFidelityProof returns the proof's encoding (as inside Offer and
// Register): a stable name for a certificate, e.g. a cache key.
func EncodeFidelityProof(p *FidelityProof) ([]byte, error) {
	w := NewWriter("FidelityProof", nil)
	p.encode(w, "")
	if err := w.Err(); err != nil {
		return nil, err
	}
	return w.Bytes(), nil
}

func (p *FidelityProof) decode(r *Reader, prefix string) {
	p.BondOutPoint = r.OutPoint(prefix + "BondOutPoint")
	p.BondValue = r.Amount(prefix + "BondValue")
	p.LockHeight = r.U32(prefix + "LockHeight")
	p.BondPubKey = r.PubKey(prefix + "BondPubKey")
	p.CertExpiry = r.U32(prefix + "CertExpiry")
	p.Addr = r.Addr(prefix + "Addr")
	p.CertSig = r.Sig(prefix + "CertSig")
}

// Register asks a directory to list a maker. The directory must check
// that Addr equals Proof.Addr and verify the proof on its own node; the
// entry is keyed by the bond outpoint (one entry per bond).
//
//	addr Addr | FidelityProof
type Register struct {
	Addr  string
	Proof FidelityProof
}

func (m *Register) Type() MessageType  { return TypeRegister }
func (m *Register) MaxPayload() uint32 { return maxAddrField + maxFidelityProofSize }

func (m *Register) Encode(w *Writer) error {
	w.Addr("Addr", m.Addr)
	m.Proof.encode(w, "Proof.")
	return w.Err()
}

func (m *Register) Decode(r *Reader) error {
	m.Addr = r.Addr("Addr")
	m.Proof.decode(r, "Proof.")
	return r.Err()
}

// RegisterAck accepts a Register. TTLSeconds is how long the entry stays
// listed without a new Register, so the maker knows when to refresh.
//
//	u32 TTLSeconds
type RegisterAck struct {
	TTLSeconds uint32
}

func (m *RegisterAck) Type() MessageType  { return TypeRegisterAck }
func (m *RegisterAck) MaxPayload() uint32 { return 4 }

func (m *RegisterAck) Encode(w *Writer) error {
	w.U32(m.TTLSeconds)
	return w.Err()
}

func (m *RegisterAck) Decode(r *Reader) error {
	m.TTLSeconds = r.U32("TTLSeconds")
	return r.Err()
}

// RegisterChallenge is the directory's answer to a Register whose proof
// checks out: a fresh nonce that the bond key must sign
// (RegisterChallengeDigest), so that only whoever holds the key now can
// register or refresh the entry. The registration (certificate and
// address) is public in every ListReply; without the challenge anyone
// could keep a maker that went away listed until its certificate expires.
//
//	[32] Nonce
type RegisterChallenge struct {
	Nonce [32]byte
}

func (m *RegisterChallenge) Type() MessageType  { return TypeRegisterChallenge }
func (m *RegisterChallenge) MaxPayload() uint32 { return 32 }

func (m *RegisterChallenge) Encode(w *Writer) error {
	w.Fixed(m.Nonce[:])
	return w.Err()
}

func (m *RegisterChallenge) Decode(r *Reader) error {
	r.Fixed("Nonce", m.Nonce[:])
	return r.Err()
}

// RegisterResponse answers a RegisterChallenge: the bond key's strict DER
// signature of RegisterChallengeDigest.
//
//	sig Sig
type RegisterResponse struct {
	Sig []byte
}

func (m *RegisterResponse) Type() MessageType  { return TypeRegisterResponse }
func (m *RegisterResponse) MaxPayload() uint32 { return maxSigField }

func (m *RegisterResponse) Encode(w *Writer) error {
	w.Sig("Sig", m.Sig)
	return w.Err()
}

func (m *RegisterResponse) Decode(r *Reader) error {
	m.Sig = r.Sig("Sig")
	return r.Err()
}

// RegisterChallengeDomain separates challenge signatures from every other
// use of a bond key (certificates sign another domain).
const RegisterChallengeDomain = "onionswap-directory-challenge/v1"

// RegisterChallengeDigest is what the bond key signs to answer a
// challenge: SHA256d(domain | nonce | bond outpoint | address), so a
// signature answers one challenge, for one bond and one address only.
func RegisterChallengeDigest(nonce [32]byte, bond wire.OutPoint, addr string) [32]byte {
	var b bytes.Buffer
	b.WriteString(RegisterChallengeDomain)
	b.WriteByte('|')
	b.Write(nonce[:])
	b.WriteByte('|')
	b.WriteString(bond.String())
	b.WriteByte('|')
	b.WriteString(addr)
	first := sha256.Sum256(b.Bytes())
	return sha256.Sum256(first[:])
}

// Directory refusal codes, carried by Nack (and Error). They live in
// 0x0200–0x02FF, mirroring the directory's message type range, so that
// core codes (1–255) and later subsystems never collide with them. Each
// names one reason a bond proof is refused, so a maker (and its operator)
// learns exactly what to fix; CodeInvalidFidelityProof remains the
// catch-all for a proof that is malformed.
const (
	// CodeBondForged: the certificate signature does not verify under the
	// bond key (forged, or signed by another key).
	CodeBondForged ErrorCode = 0x0200
	// CodeBondCertExpired: the certificate's expiry height is reached.
	CodeBondCertExpired ErrorCode = 0x0201
	// CodeBondCertLifetime: the certificate is valid for longer than the
	// directory accepts; sign one with a nearer expiry.
	CodeBondCertLifetime ErrorCode = 0x0202
	// CodeBondSpent: the bond output is spent (in the chain or mempool).
	CodeBondSpent ErrorCode = 0x0203
	// CodeBondNotFound: no such transaction or output on the chain.
	CodeBondNotFound ErrorCode = 0x0204
	// CodeBondMismatch: the output exists but does not pay the bond
	// script of the certificate, or its value differs from it.
	CodeBondMismatch ErrorCode = 0x0205
	// CodeBondUnconfirmed: not confirmed, or fewer confirmations than the
	// directory requires.
	CodeBondUnconfirmed ErrorCode = 0x0206
	// CodeBondLockWindow: lock height − confirmation height is outside the
	// accepted window.
	CodeBondLockWindow ErrorCode = 0x0207
	// CodeBondTooSmall: the bond amount is below the directory's minimum.
	CodeBondTooSmall ErrorCode = 0x0208
	// CodeBondExpired: the bond's lock height is reached: the coins can
	// move, so the bond no longer costs anything.
	CodeBondExpired ErrorCode = 0x0209
	// CodeBondOnionMismatch: the certificate binds another address than
	// the one being registered.
	CodeBondOnionMismatch ErrorCode = 0x020A
	// CodeDirectoryFull: the directory lists MaxDirEntries bonds, all
	// worth more than this one.
	CodeDirectoryFull ErrorCode = 0x020B
	// CodeBondNotHeld: the answer to the registration challenge is not
	// the bond key's signature: whoever registers does not hold the bond
	// key now (a replayed registration).
	CodeBondNotHeld ErrorCode = 0x020C
)

func init() {
	for c, name := range map[ErrorCode]string{
		CodeBondForged:        "BondForged",
		CodeBondCertExpired:   "BondCertExpired",
		CodeBondCertLifetime:  "BondCertLifetime",
		CodeBondSpent:         "BondSpent",
		CodeBondNotFound:      "BondNotFound",
		CodeBondMismatch:      "BondMismatch",
		CodeBondUnconfirmed:   "BondUnconfirmed",
		CodeBondLockWindow:    "BondLockWindow",
		CodeBondTooSmall:      "BondTooSmall",
		CodeBondExpired:       "BondExpired",
		CodeBondOnionMismatch: "BondOnionMismatch",
		CodeDirectoryFull:     "DirectoryFull",
		CodeBondNotHeld:       "BondNotHeld",
	} {
		if _, dup := errorCodeNames[c]; dup {
			panic("protocol: duplicate error code " + name)
		}
		errorCodeNames[c] = name
	}
}

// Nack refuses a directory request with a reason; unlike Error it does
// not end the connection (a maker may retry with another proof). Code is
// one of the CodeBond* reasons above, CodeInvalidFidelityProof for a
// malformed proof, or a core code (CodeInternal when the directory could
// not reach its node: retry later).
//
//	u16 Code | u16 len(Text) ≤ MaxErrorTextLen, UTF-8
type Nack struct {
	Code ErrorCode
	Text string
}

func (m *Nack) Type() MessageType  { return TypeNack }
func (m *Nack) MaxPayload() uint32 { return 2 + u16Size + MaxErrorTextLen }

func (m *Nack) Encode(w *Writer) error {
	w.U16(uint16(m.Code))
	w.String("Text", m.Text, MaxErrorTextLen)
	return w.Err()
}

func (m *Nack) Decode(r *Reader) error {
	m.Code = ErrorCode(r.U16("Code"))
	m.Text = r.String("Text", MaxErrorTextLen)
	return r.Err()
}

// ListRequest asks a directory for its makers. Empty payload.
type ListRequest struct{}

func (m *ListRequest) Type() MessageType    { return TypeListRequest }
func (m *ListRequest) MaxPayload() uint32   { return 0 }
func (m *ListRequest) Encode(*Writer) error { return nil }
func (m *ListRequest) Decode(*Reader) error { return nil }

// DirEntry is one listed maker.
//
//	addr Addr | FidelityProof | u64 LastSeen (unix seconds)
type DirEntry struct {
	Addr     string
	Proof    FidelityProof
	LastSeen uint64
}

const (
	maxDirEntrySize = maxAddrField + maxFidelityProofSize + u64Size
	minDirEntrySize = u16Size + 1 + minFidelityProofSize + u64Size
	// maxListReplyPayload: 1000 × 371 B ≈ 371 kB.
	maxListReplyPayload = u16Size + MaxDirEntries*maxDirEntrySize
)

// ListReply lists makers with their proofs, so a taker can verify each
// bond itself before connecting.
//
//	u16 count ≤ MaxDirEntries, DirEntry × count
type ListReply struct {
	Entries []DirEntry
}

func (m *ListReply) Type() MessageType  { return TypeListReply }
func (m *ListReply) MaxPayload() uint32 { return maxListReplyPayload }

func (m *ListReply) Encode(w *Writer) error {
	w.Count("Entries", len(m.Entries), MaxDirEntries)
	for i := range m.Entries {
		e := &m.Entries[i]
		w.SetIndex(i)
		w.Addr("Entries[].Addr", e.Addr)
		e.Proof.encode(w, "Entries[].Proof.")
		w.U64(e.LastSeen)
	}
	w.SetIndex(-1)
	return w.Err()
}

func (m *ListReply) Decode(r *Reader) error {
	if n := r.Count("Entries", MaxDirEntries, minDirEntrySize); n > 0 {
		m.Entries = make([]DirEntry, n)
	}
	for i := range m.Entries {
		if r.err != nil {
			break
		}
		e := &m.Entries[i]
		r.SetIndex(i)
		e.Addr = r.Addr("Entries[].Addr")
		e.Proof.decode(r, "Entries[].Proof.")
		e.LastSeen = r.U64("Entries[].LastSeen")
	}
	r.SetIndex(-1)
	return r.Err()
}
