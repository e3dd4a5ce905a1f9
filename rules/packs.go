package rules

import (
	"embed"
	"fmt"
	"sort"
	"strings"
)

//go:embed packs/*.yaml
var packFiles embed.FS

// PackNames returns the names of the built-in rule packs.
func PackNames() []string {
	entries, _ := packFiles.ReadDir("packs")
	var names []string
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".yaml")
		if !strings.HasSuffix(name, "_test") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// PackSource returns a built-in pack's YAML, or its tests' YAML for
// name + "_test".
func PackSource(name string) ([]byte, error) {
	data, err := packFiles.ReadFile("packs/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("no built-in rule pack %q; the packs are %s", name, strings.Join(PackNames(), ", "))
	}
	return data, nil
}

// Pack parses a built-in pack.
func Pack(name string) ([]*Compiled, error) {
	data, err := PackSource(name)
	if err != nil {
		return nil, err
	}
	return ParseFile(data, "pack "+name)
}

// Load parses rules from "pack:NAME" or a file's contents.
func Load(name string, read func(string) ([]byte, error)) ([]*Compiled, error) {
	if pack, ok := strings.CutPrefix(name, "pack:"); ok {
		return Pack(pack)
	}
	data, err := read(name)
	if err != nil {
		return nil, err
	}
	return ParseFile(data, name)
}
