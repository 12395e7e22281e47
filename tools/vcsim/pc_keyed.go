// Licensed under the Apache License, Version 2.0 (the "License"); you may
// not use this file except in compliance with the License. You may obtain
// a copy of the License at
//
//      http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
// WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
// License for the specific language governing permissions and limitations
// under the License.

// Keyed property paths: config.extraConfig["nvp.vm-uuid"].
//
// vCenter lets a property path index an array of keyed data objects by key:
// `config.extraConfig["nvp.vm-uuid"]` is the one OptionValue of that key,
// `config.hardware.device[2000]` the device of key 2000. Nova drivers read
// single extraConfig options this way instead of every VM's whole
// extraConfig. vcsim 0.24.2 answers such paths as unknown properties.
//
// pcKeyedPaths rewrites the paths of a PropertySpec to their array before
// the stock collector reads them, and pcKeyedResults picks the element of
// each requested key out of the results, under the keyed name. A key that is
// not in the array leaves the property out, as vCenter does.

package main

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/vmware/govmomi/vim25/types"
)

var pcKeyedPath = regexp.MustCompile(`^([A-Za-z0-9_.]+)\[("?)([^\]"]*)("?)\]$`)

// pcKeyed is one keyed path of a request: path = base[key].
type pcKeyed struct {
	path, base, key string
}

// pcKeyedPaths returns the property specs with keyed paths replaced by
// their array, the keyed paths found, and the arrays only they asked for.
func pcKeyedPaths(props []types.PropertySpec) ([]types.PropertySpec, []pcKeyed, map[string]bool) {
	var keyed []pcKeyed
	extra := make(map[string]bool)
	out := make([]types.PropertySpec, len(props))
	for i, spec := range props {
		out[i] = spec
		asked := make(map[string]bool)
		for _, p := range spec.PathSet {
			asked[p] = true
		}
		var paths []string
		for _, p := range spec.PathSet {
			m := pcKeyedPath.FindStringSubmatch(p)
			if m == nil || m[2] != m[4] {
				paths = append(paths, p)
				continue
			}
			keyed = append(keyed, pcKeyed{path: p, base: m[1], key: m[3]})
			if !asked[m[1]] {
				extra[m[1]] = true
				asked[m[1]] = true
				paths = append(paths, m[1])
			}
		}
		out[i].PathSet = paths
	}
	return out, keyed, extra
}

// pcKeyedResults adds the keyed properties to each object and drops the
// arrays that were read only for them.
func pcKeyedResults(objects []types.ObjectContent, keyed []pcKeyed, extra map[string]bool) {
	if len(keyed) == 0 {
		return
	}
	for i := range objects {
		o := &objects[i]
		values := make(map[string]types.AnyType)
		var kept []types.DynamicProperty
		for _, p := range o.PropSet {
			values[p.Name] = p.Val
			if !extra[p.Name] {
				kept = append(kept, p)
			}
		}
		for _, k := range keyed {
			if v, ok := pcElement(values[k.base], k.key); ok {
				kept = append(kept, types.DynamicProperty{Name: k.path, Val: v})
			}
		}
		o.PropSet = kept
		var missing []types.MissingProperty
		for _, m := range o.MissingSet {
			if !extra[m.Path] {
				missing = append(missing, m)
			}
		}
		o.MissingSet = missing
	}
}

// pcElement finds the element whose Key field prints as key in an array
// value as the collector returns it (an ArrayOfX struct or a slice).
func pcElement(array types.AnyType, key string) (types.AnyType, bool) {
	if array == nil {
		return nil, false
	}
	rval := reflect.ValueOf(array)
	for rval.Kind() == reflect.Ptr || rval.Kind() == reflect.Interface {
		if rval.IsNil() {
			return nil, false
		}
		rval = rval.Elem()
	}
	if rval.Kind() == reflect.Struct && rval.NumField() == 1 {
		rval = rval.Field(0)
	}
	if rval.Kind() != reflect.Slice {
		return nil, false
	}
	for i := 0; i < rval.Len(); i++ {
		elem := rval.Index(i)
		item := elem
		for item.Kind() == reflect.Ptr || item.Kind() == reflect.Interface {
			if item.IsNil() {
				break
			}
			item = item.Elem()
		}
		if item.Kind() != reflect.Struct {
			continue
		}
		if pcKeyOf(item) == key {
			return elem.Interface(), true
		}
	}
	return nil, false
}

// pcKeyOf is the Key field of a data object, looking through embedded
// base types (a VirtualDisk's Key is in its VirtualDevice).
func pcKeyOf(item reflect.Value) string {
	if f := item.FieldByName("Key"); f.IsValid() {
		return strings.TrimSpace(fmt.Sprint(f.Interface()))
	}
	return ""
}
