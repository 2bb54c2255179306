package nftables

import (
	"encoding/hex"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Set types (nft's datatype numbers; concatenations are 6 bits each).
const (
	typeVerdict  = 0xffffff00
	typeIPAddr   = 7
	typeIP6Addr  = 8
	typeMark     = 19
	typeInetProt = 12
	typeService  = 13
)

func concatType(ts ...uint32) uint32 {
	var t uint32
	for _, x := range ts {
		t = t<<6 | x
	}
	return t
}

// The userdata of each set is what nft writes for the declarations in
// doc.go (byte orders), so that `nft list` prints the sets as nft would
// and the listing loads again.
func ud(h string) []byte {
	b, err := hex.DecodeString(h)
	if err != nil {
		panic(err)
	}
	return b
}

var (
	udAddrService = ud("000400000000010400000000030800040d0000000100060400000000")
	udMarkVerdict = ud("000401000000010400000000060400000000")
	udMarkConcat  = ud("000401000000010400000000040800040d0000000100060400000000")
	udMarkAddr    = ud("000401000000010402000000060400000000")
	udMark        = ud("000401000000")
	udAddrMark    = ud("000402000000010401000000060400000000")
	udMarkMark    = ud("000401000000010401000000060400000000")
)

// fixedSpecs are the skeleton's sets, in the order of fixedSets.
var fixedSpecs = []setSpec{
	{name: setSvc4, flags: unix.NFT_SET_MAP, keyType: concatType(typeInetProt, typeIPAddr, typeService), keyLen: 12, dataType: typeVerdict, dataLen: 16, userdata: udAddrService},
	{name: setSvc6, flags: unix.NFT_SET_MAP, keyType: concatType(typeInetProt, typeIP6Addr, typeService), keyLen: 24, dataType: typeVerdict, dataLen: 16, userdata: udAddrService},
	{name: setFwm4, flags: unix.NFT_SET_MAP, keyType: typeMark, keyLen: 4, dataType: typeVerdict, dataLen: 16, userdata: udMarkVerdict},
	{name: setFwm6, flags: unix.NFT_SET_MAP, keyType: typeMark, keyLen: 4, dataType: typeVerdict, dataLen: 16, userdata: udMarkVerdict},
	{name: setSlots, flags: unix.NFT_SET_MAP, keyType: typeMark, keyLen: 4, dataType: typeMark, dataLen: 4, userdata: udMarkMark},
	{name: setDst4, flags: unix.NFT_SET_MAP, keyType: typeMark, keyLen: 4, dataType: concatType(typeIPAddr, typeService), dataLen: 8, userdata: udMarkConcat},
	{name: setDst4a, flags: unix.NFT_SET_MAP, keyType: typeMark, keyLen: 4, dataType: typeIPAddr, dataLen: 4, userdata: udMarkAddr},
	{name: setDst6, flags: unix.NFT_SET_MAP, keyType: typeMark, keyLen: 4, dataType: concatType(typeIP6Addr, typeService), dataLen: 20, userdata: udMarkConcat},
	{name: setDst6a, flags: unix.NFT_SET_MAP, keyType: typeMark, keyLen: 4, dataType: typeIP6Addr, dataLen: 16, userdata: udMarkAddr},
	{name: statsIn, keyType: typeMark, keyLen: 4, userdata: udMark, counter: true},
	{name: statsOut, keyType: typeMark, keyLen: 4, userdata: udMark, counter: true},
	{name: statsNew, keyType: typeMark, keyLen: 4, userdata: udMark, counter: true},
}

// persistSpec is the persistence map named p<svc>_<secs>_<mask>_<family>:
// masked client address → destination mark, dynamic, with the persistence
// timeout.
func persistSpec(name string) setSpec {
	s := setSpec{name: name, flags: unix.NFT_SET_MAP | unix.NFT_SET_TIMEOUT | unix.NFT_SET_EVAL,
		keyType: typeIPAddr, keyLen: 4, dataType: typeMark, dataLen: 4, userdata: udAddrMark}
	parts := strings.Split(name, "_")
	if len(parts) == 4 && parts[3] == "6" {
		s.keyType, s.keyLen = typeIP6Addr, 16
	}
	if len(parts) >= 2 {
		if secs, err := strconv.ParseUint(parts[1], 10, 32); err == nil {
			s.timeout = secs * 1000
		}
	}
	return s
}
