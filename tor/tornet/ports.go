package tornet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

const (
	// portStride is the size of one network's port block: ORPorts at
	// base+i and DirPorts at base+dirPortOffset+i, for up to
	// maxNodes nodes.
	portStride    = 32
	dirPortOffset = 16
	maxNodes      = dirPortOffset
	// Port blocks are taken from [portLow, portHigh): below Linux's
	// ephemeral range (32768-60999), so outgoing connections of other
	// programs never grab one of our ports between check and bind.
	portLow  = 10000
	portHigh = 32000
	// portAttempts bounds the search for a free block.
	portAttempts = 200
)

// portBlock is a reserved range of loopback ports. The reservation is an
// exclusive flock on a file named after the base port in a directory
// shared by every process on the machine, so two networks started at the
// same moment (two test packages in parallel) never pick the same block.
// The lock is dropped by the kernel if our process dies.
type portBlock struct {
	base int
	lock *os.File
}

func reservePorts(nodes int) (*portBlock, error) {
	if nodes > maxNodes {
		return nil, fmt.Errorf("tornet: at most %d nodes", maxNodes)
	}
	lockDir := filepath.Join(os.TempDir(), "onionswap-tornet-ports")
	if err := os.MkdirAll(lockDir, 0o777); err != nil {
		return nil, fmt.Errorf("tornet: port lock dir: %w", err)
	}
	slots := (portHigh - portLow) / portStride
	start := rand.IntN(slots)
	for i := 0; i < portAttempts; i++ {
		base := portLow + ((start+i)%slots)*portStride
		f, err := os.OpenFile(filepath.Join(lockDir, strconv.Itoa(base)+".lock"), os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			return nil, fmt.Errorf("tornet: port lock: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue // another network holds this block
		}
		if blockFree(base, nodes) {
			return &portBlock{base: base, lock: f}, nil
		}
		f.Close() // closing drops the flock
	}
	return nil, errors.New("tornet: no free block of loopback ports found")
}

// blockFree checks that every port the network will bind is free now.
func blockFree(base, nodes int) bool {
	for i := 0; i < nodes; i++ {
		for _, p := range []int{base + i, base + dirPortOffset + i} {
			l, err := net.Listen("tcp", net.JoinHostPort(loopback, strconv.Itoa(p)))
			if err != nil {
				return false
			}
			l.Close()
		}
	}
	return true
}

func (b *portBlock) orPort(i int) int  { return b.base + i }
func (b *portBlock) dirPort(i int) int { return b.base + dirPortOffset + i }

func (b *portBlock) release() {
	if b != nil && b.lock != nil {
		b.lock.Close()
		b.lock = nil
	}
}
