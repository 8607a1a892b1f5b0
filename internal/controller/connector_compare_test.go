package controller

import "testing"

func TestSubsetEqual(t *testing.T) {
	cases := []struct {
		name      string
		want, got string
		equal     bool
	}{
		{"same", `{"a":1}`, `{"a":1}`, true},
		{"server-added key", `{"a":1}`, `{"a":1,"id":"x"}`, true},
		{"server-added nested key", `{"o":{"a":1}}`, `{"o":{"a":1,"b":2}}`, true},
		{"numbers as numbers", `{"a":1}`, `{"a":1.0}`, true},
		{"exponent", `{"a":100}`, `{"a":1e2}`, true},
		{"big integers exactly", `{"a":12345678901234567890}`, `{"a":12345678901234567891}`, false},
		{"changed value", `{"a":1}`, `{"a":2}`, false},
		{"missing key", `{"a":1,"b":2}`, `{"a":1}`, false},
		{"number vs string", `{"a":1}`, `{"a":"1"}`, false},
		{"array order matters", `{"l":[1,2]}`, `{"l":[2,1]}`, false},
		{"array length matters", `{"l":[1]}`, `{"l":[1,2]}`, false},
		{"objects in arrays are subsets too", `{"l":[{"a":1}]}`, `{"l":[{"a":1,"x":0}]}`, true},
		{"null", `{"a":null}`, `{"a":null}`, true},
		{"null vs missing", `{"a":null}`, `{}`, false},
		{"an object where a value is", `{"o":{"a":1}}`, `{"o":1}`, false},
		{"an array where a value is", `{"l":[1]}`, `{"l":1}`, false},
		{"a number where a string is", `{"a":"1"}`, `{"a":1}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, err := decodeJSON([]byte(tc.want))
			if err != nil {
				t.Fatal(err)
			}
			g, err := decodeJSON([]byte(tc.got))
			if err != nil {
				t.Fatal(err)
			}
			if got := subsetEqual(w, g); got != tc.equal {
				t.Fatalf("subsetEqual(%s, %s) = %v", tc.want, tc.got, got)
			}
		})
	}
}
