package manifests

import "testing"

func TestDecodeSplitsDocumentsAndSkipsEmptyOnes(t *testing.T) {
	objs, err := Decode([]byte("---\n# a comment only\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"b\"}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0].GetName() != "a" || objs[1].GetName() != "b" {
		t.Fatalf("decoded %v, want namespaces a and b", objs)
	}
	if _, err := Decode([]byte("kind: [unclosed")); err == nil {
		t.Fatal("a malformed document decoded")
	}
}
