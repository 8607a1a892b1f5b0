package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"helm.sh/helm/v3/pkg/chart/loader"
	krew "sigs.k8s.io/krew/pkg/index"
	"sigs.k8s.io/yaml"
)

const version = "0.2.0"

// make release VERSION=0.2.0 runs offline and every artefact names the same
// version: the image (user, entrypoint, labels, and its binary's
// --version), the plugin archives and their krew manifest, the chart, the
// pinned install.yaml, the SBOM, the CHANGELOG section and the checksums.
func TestMakeReleaseWritesArtefactsThatAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("builds six binaries")
	}
	out := t.TempDir()
	cmd := exec.Command("make", "release", "VERSION="+version, "REVISION=0123456789abcdef", "RELEASE_DIR="+out)
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make release: %v\n%s", err, b)
	}

	t.Run("image", func(t *testing.T) { checkImage(t, out) })
	t.Run("plugin and krew manifest", func(t *testing.T) { checkPlugin(t, out) })
	t.Run("chart and install.yaml", func(t *testing.T) {
		chrt, err := loader.Load(filepath.Join(out, "sim-operator-"+version+".tgz"))
		if err != nil || chrt.Metadata.Version != version || chrt.Metadata.AppVersion != "v"+version {
			t.Errorf("chart: %v %+v", err, chrt)
		}
		install, err := os.ReadFile(filepath.Join(out, "install.yaml"))
		if err != nil || !strings.Contains(string(install), "image: ghcr.io/sim-operator/sim-operator:v"+version) {
			t.Errorf("install.yaml does not pin v%s: %v", version, err)
		}
	})
	t.Run("SBOM", func(t *testing.T) {
		var bom struct {
			BOMFormat string `json:"bomFormat"`
			Metadata  struct {
				Component struct{ Name, Version string } `json:"component"`
			} `json:"metadata"`
			Components []struct{ Name, Version string } `json:"components"`
		}
		data, err := os.ReadFile(filepath.Join(out, "sbom.cdx.json"))
		if err == nil {
			err = json.Unmarshal(data, &bom)
		}
		if err != nil || bom.BOMFormat != "CycloneDX" || bom.Metadata.Component.Version != "v"+version ||
			!strings.Contains(string(data), "sigs.k8s.io/controller-runtime") {
			t.Errorf("SBOM: %v %s %+v, %d components", err, bom.BOMFormat, bom.Metadata.Component, len(bom.Components))
		}
	})
	t.Run("CHANGELOG and SHA256SUMS", func(t *testing.T) {
		cl, err := os.ReadFile(filepath.Join(out, "CHANGELOG.md"))
		if err != nil || !strings.HasPrefix(string(cl), "## v"+version) || strings.Contains(string(cl), "## v0.1.0") {
			t.Errorf("CHANGELOG.md is not the v%s section: %v\n%s", version, err, cl)
		}
		sums, err := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
			sum, name, _ := strings.Cut(line, "  ")
			if got := fileSum(t, filepath.Join(out, name)); got != sum {
				t.Errorf("SHA256SUMS: %s is %s, listed %s", name, got, sum)
			}
		}
		if !strings.Contains(string(sums), "sim-operator-"+version+".tgz") || !strings.Contains(string(sums), "image/index.json") {
			t.Errorf("SHA256SUMS misses artefacts:\n%s", sums)
		}
	})
}

func checkImage(t *testing.T, out string) {
	idx, err := layout.ImageIndexFromPath(filepath.Join(out, "image"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 {
		t.Fatalf("the layout holds %d entries, want one index", len(m.Manifests))
	}
	if ref := m.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; ref != "ghcr.io/sim-operator/sim-operator:v"+version {
		t.Errorf("ref.name %q", ref)
	}
	platforms, err := idx.ImageIndex(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := platforms.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, d := range pm.Manifests {
		platform := d.Platform.OS + "/" + d.Platform.Architecture
		seen[platform] = true
		img, err := platforms.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		c := cfg.Config
		if c.User != "65532:65532" || len(c.Entrypoint) != 1 || c.Entrypoint[0] != "/manager" ||
			c.Labels["org.opencontainers.image.version"] != version || c.Labels["org.opencontainers.image.revision"] != "0123456789abcdef" ||
			!strings.HasPrefix(c.Labels["org.opencontainers.image.source"], "https://github.com/") {
			t.Errorf("%s: config %+v", platform, c)
		}
		if platform != runtime.GOOS+"/"+runtime.GOARCH {
			continue
		}
		bin := filepath.Join(t.TempDir(), "manager")
		if err := os.WriteFile(bin, fromTar(t, mutate.Extract(img), "manager"), 0o755); err != nil {
			t.Fatal(err)
		}
		got, err := exec.Command(bin, "--version").CombinedOutput()
		if err != nil || !strings.HasPrefix(string(got), "sim-operator "+version+" (revision 0123456789abcdef") {
			t.Errorf("the image's manager --version: %v %q", err, got)
		}
	}
	if !seen["linux/amd64"] || !seen["linux/arm64"] {
		t.Errorf("image platforms %v", seen)
	}
}

func checkPlugin(t *testing.T, out string) {
	data, err := os.ReadFile(filepath.Join(out, "krew-sim.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var p krew.Plugin
	if err := yaml.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	if p.Name != "sim" || p.Spec.Version != "v"+version || len(p.Spec.Platforms) != 4 {
		t.Fatalf("krew manifest %+v", p)
	}
	for _, pl := range p.Spec.Platforms {
		name := filepath.Base(pl.URI)
		if !strings.Contains(pl.URI, "/v"+version+"/") || fileSum(t, filepath.Join(out, name)) != pl.Sha256 {
			t.Errorf("krew platform %v: %s does not match its archive", pl.Selector.MatchLabels, pl.URI)
		}
		if pl.Selector.MatchLabels["os"] != runtime.GOOS || pl.Selector.MatchLabels["arch"] != runtime.GOARCH {
			continue
		}
		f, err := os.Open(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		gz, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(t.TempDir(), "kubectl-sim")
		if err := os.WriteFile(bin, fromTar(t, gz, "kubectl-sim"), 0o755); err != nil {
			t.Fatal(err)
		}
		_ = f.Close()
		got, err := exec.Command(bin, "version").CombinedOutput()
		if err != nil || !strings.HasPrefix(string(got), "kubectl-sim "+version+" ") {
			t.Errorf("kubectl-sim version: %v %q", err, got)
		}
	}
}

// fromTar returns one file of a tar stream.
func fromTar(t *testing.T, r io.Reader, name string) []byte {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s not found: %v", name, err)
		}
		if strings.TrimPrefix(h.Name, "/") == name {
			var b bytes.Buffer
			if _, err := io.Copy(&b, tr); err != nil {
				t.Fatal(err)
			}
			return b.Bytes()
		}
	}
}

func fileSum(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}
