// Package securefile writes the node's small secret files (cookies, keys,
// password hashes) so that they are never readable by others, not even
// for a moment, and never half-written: a temp file in the same
// directory created with the final mode, written, fsynced, then renamed
// (or linked) into place, and the directory fsynced.
package securefile

import (
	"io/fs"
	"os"
	"path/filepath"
)

// WriteAtomic replaces path with data (mode from creation). A missing
// directory is created 0700.
func WriteAtomic(path string, data []byte, mode fs.FileMode) error {
	return write(path, data, mode, os.Rename)
}

// WriteExclusive creates path with data (mode from creation), failing
// with an fs.ErrExist error if it exists: a key that must never be
// replaced.
func WriteExclusive(path string, data []byte, mode fs.FileMode) error {
	return write(path, data, mode, os.Link)
}

func write(path string, data []byte, mode fs.FileMode, place func(tmp, path string) error) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// CreateTemp makes the file 0600; Chmod narrows or sets the mode
	// before a byte is written.
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
		}
		os.Remove(tmp) // after a rename: gone already; after a link: the extra name
	}()
	if err = f.Chmod(mode); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = place(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
