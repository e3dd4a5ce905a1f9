// Package data bundles the real, de-identified vital-sign data sets that
// the demo replays, so the binary runs them from anywhere. The files sit
// next to their licences and attribution: MIMIC-III Clinical Database Demo
// v1.4 (ODbL 1.0, see mimic3-demo/LICENSE.txt) and BIG IDEAs Lab CGM data
// (ODC-By 1.0, see bigideas-cgm/LICENSE.md).
package data

import (
	_ "embed"
	"fmt"
	"sort"
	"strings"
)

//go:embed mimic3-demo/vitals.csv
var mimicVitals []byte

//go:embed bigideas-cgm/vitals.csv
var cgmVitals []byte

var sets = map[string][]byte{
	"mimic": mimicVitals,
	"cgm":   cgmVitals,
}

// Bundled returns a bundled data set's vitals.csv by name: "mimic" or
// "cgm".
func Bundled(name string) ([]byte, error) {
	b, ok := sets[name]
	if !ok {
		return nil, fmt.Errorf("no bundled data set %q; choose one of %s", name, strings.Join(Names(), ", "))
	}
	return b, nil
}

// Names returns the names of the bundled data sets.
func Names() []string {
	names := make([]string, 0, len(sets))
	for n := range sets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
