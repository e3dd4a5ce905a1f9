package state

import (
	"encoding/binary"
	"errors"
	"math"
)

// Key layout. Every partition-scoped key starts with 'p' and the partition
// number, so that one partition's state is one contiguous key range that can
// be dropped, restored or digested on its own:
//
//	p <u16 partition> o <topic>                               next input offset
//	p <u16 partition> c <name>                                counter
//	p <u16 partition> r <patient>                             patient record
//	p <u16 partition> f <patient>                             patient profile
//	p <u16 partition> m <patient> <metric>                    window metadata
//	p <u16 partition> w <patient> <metric> <u64 at> <u64 seq> window sample
//	p <u16 partition> d <patient> <u32 day> <16-byte id>      dedupe entry
//	p <u16 partition> a <patient> <rule>                      alert state
//	p <u16 partition> b <patient> <u32 date>                  billing day with data
//	p <u16 partition> e <patient> <event id>                  care event (time entry, claim)
//	p <u16 partition> q <patient> <scope>                     hash of the last billing snapshot sent
//
// Strings are length-prefixed (u16), so no id can run into the next field.
// Times are Unix nanoseconds with the sign bit flipped, so that byte order
// is time order.
const (
	kindOffset  = 'o'
	kindCounter = 'c'
	kindPatient = 'r'
	kindProfile = 'f'
	kindMeta    = 'm'
	kindSample  = 'w'
	kindDedupe  = 'd'
	kindAlert   = 'a'
	kindDay     = 'b'
	kindCare    = 'e'
	kindSent    = 'q'
)

// ErrKeyTooLong is returned for ids that do not fit a key field.
var ErrKeyTooLong = errors.New("state: key field longer than 65535 bytes")

func partitionPrefix(partition int) []byte {
	return []byte{'p', byte(partition >> 8), byte(partition)}
}

// partitionBounds returns the key range that holds all of one partition's
// state.
func partitionBounds(partition int) (lower, upper []byte) {
	lower = partitionPrefix(partition)
	// prefixEnd, not the prefix of partition+1, which wraps to partition 0
	// for partition 65535.
	upper = prefixEnd(lower)
	return lower, upper
}

func appendString(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

func appendTime(dst []byte, unixNanos int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(unixNanos)^(1<<63))
}

func decodeTime(b []byte) int64 {
	return int64(binary.BigEndian.Uint64(b) ^ (1 << 63))
}

func key(partition int, kind byte, parts ...string) []byte {
	k := make([]byte, 0, 32)
	k = append(k, partitionPrefix(partition)...)
	k = append(k, kind)
	for _, p := range parts {
		k = appendString(k, p)
	}
	return k
}

// prefixEnd returns the smallest key greater than every key that starts
// with prefix.
func prefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

func checkLengths(parts ...string) error {
	for _, p := range parts {
		if len(p) > math.MaxUint16 {
			return ErrKeyTooLong
		}
	}
	return nil
}

func encodeFloat(v float64) []byte {
	return binary.BigEndian.AppendUint64(nil, math.Float64bits(v))
}

func decodeFloat(b []byte) float64 {
	return math.Float64frombits(binary.BigEndian.Uint64(b))
}
