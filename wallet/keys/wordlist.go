package keys

import (
	_ "embed"
	"strings"
)

// wordlistEnglish is the BIP39 English list (bitcoin/bips bip-0039/english.txt,
// sha256 2f5eed53…dbda, checked by TestWordlistHash).
//
//go:embed wordlist_english.txt
var wordlistEnglish string

// wordlistSize is fixed by BIP39: 11 bits per word.
const wordlistSize = 2048

var (
	words     = strings.Fields(wordlistEnglish)
	wordIndex = func() map[string]uint16 {
		if len(words) != wordlistSize {
			panic("keys: embedded BIP39 word list does not have 2048 words")
		}
		m := make(map[string]uint16, wordlistSize)
		for i, w := range words {
			m[w] = uint16(i)
		}
		return m
	}()
)
