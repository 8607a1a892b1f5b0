package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/CycloneDX/cyclonedx-gomod/pkg/generate/app"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	krew "sigs.k8s.io/krew/pkg/index"
	"sigs.k8s.io/yaml"
)

// config is one release.
type config struct {
	repo, version, revision, out, imageRepo, source string
}

// nonRoot is the image's user: distroless' nonroot, never root.
const nonRoot = "65532:65532"

// Platforms of the image and of the plugin.
var (
	imagePlatforms  = []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}
	pluginPlatforms = []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"},
		{OS: "darwin", Architecture: "amd64"}, {OS: "darwin", Architecture: "arm64"}}
)

var semver = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)

func run(c config) error {
	if !semver.MatchString(c.version) {
		return fmt.Errorf("--version %q: want x.y.z", c.version)
	}
	repo, err := filepath.Abs(c.repo)
	if err != nil {
		return err
	}
	c.repo = repo
	if c.out == "" {
		c.out = filepath.Join(repo, "dist", "release", "v"+c.version)
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	for _, step := range []struct {
		name string
		do   func(config) error
	}{
		{"CHANGELOG section", changelog},
		{"image (OCI layout)", image},
		{"kubectl-sim archives and krew manifest", plugin},
		{"Helm chart", chart},
		{"SBOM", sbom},
		{"SHA256SUMS", checksums},
	} {
		fmt.Fprintf(os.Stderr, "release v%s: %s\n", c.version, step.name)
		if err := step.do(c); err != nil {
			return fmt.Errorf("%s: %w", step.name, err)
		}
	}
	return nil
}

// changelog writes the release's section of CHANGELOG.md; a release without
// one is refused.
func changelog(c config) error {
	data, err := os.ReadFile(filepath.Join(c.repo, "CHANGELOG.md"))
	if err != nil {
		return err
	}
	var section []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "## ") {
			if in {
				break
			}
			in = strings.HasPrefix(line, "## v"+c.version+" ") || line == "## v"+c.version
		}
		if in {
			section = append(section, line)
		}
	}
	if len(section) == 0 {
		return fmt.Errorf("CHANGELOG.md has no section \"## v%s\"", c.version)
	}
	return os.WriteFile(filepath.Join(c.out, "CHANGELOG.md"), []byte(strings.TrimSpace(strings.Join(section, "\n"))+"\n"), 0o644)
}

// build compiles a static binary of pkg for a platform, stamped with the
// version and revision.
func build(c config, pkg string, p v1.Platform, out string) error {
	ldflags := fmt.Sprintf("-s -w -X github.com/sim-operator/sim-operator/internal/version.Version=%s "+
		"-X github.com/sim-operator/sim-operator/internal/version.Revision=%s", c.version, c.revision)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", out, pkg)
	cmd.Dir = c.repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture, "GOFLAGS=-mod=mod")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// image builds the manager for each image platform and writes them as one
// multi-platform index in an OCI image layout: a scratch image holding the
// static binary (its CA roots are compiled in), run as non-root.
func image(c config) error {
	dir := filepath.Join(c.out, "image")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "sim-operator-release")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	created := v1.Time{Time: time.Unix(0, 0).UTC()} // reproducible
	labels := map[string]string{
		"org.opencontainers.image.source":   c.source,
		"org.opencontainers.image.version":  c.version,
		"org.opencontainers.image.revision": c.revision,
		"org.opencontainers.image.title":    "sim-operator",
		"org.opencontainers.image.licenses": "Apache-2.0",
	}
	var idx v1.ImageIndex = empty.Index
	idx = mutate.IndexMediaType(idx, types.OCIImageIndex)
	for _, p := range imagePlatforms {
		bin := filepath.Join(tmp, "manager-"+p.OS+"-"+p.Architecture)
		if err := build(c, ".", p, bin); err != nil {
			return err
		}
		layer, err := binaryLayer(bin, "manager")
		if err != nil {
			return err
		}
		img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
		if err != nil {
			return err
		}
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		cfg, err := img.ConfigFile()
		if err != nil {
			return err
		}
		cfg = cfg.DeepCopy()
		cfg.OS, cfg.Architecture, cfg.Created = p.OS, p.Architecture, created
		cfg.Config.User = nonRoot
		cfg.Config.Entrypoint = []string{"/manager"}
		cfg.Config.WorkingDir = "/"
		cfg.Config.Labels = labels
		if img, err = mutate.ConfigFile(img, cfg); err != nil {
			return err
		}
		platform := p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &platform}})
	}
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": c.imageRepo + ":v" + c.version,
		"org.opencontainers.image.version":  c.version,
	}))
}

// binaryLayer is a layer holding one executable at /name, owned by root and
// executable by anyone (the image runs as 65532).
func binaryLayer(path, name string) (v1.Layer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg,
		ModTime: time.Unix(0, 0)}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer))
}

// plugin builds kubectl-sim for each platform into an archive with the
// licence, and writes the krew manifest naming each archive's digest.
func plugin(c config) error {
	tmp, err := os.MkdirTemp("", "sim-operator-release")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	license, err := os.ReadFile(filepath.Join(c.repo, "LICENSE"))
	if err != nil {
		return err
	}
	manifest := krew.Plugin{
		TypeMeta:   metav1.TypeMeta{APIVersion: "krew.googlecontainertools.github.com/v1alpha2", Kind: "Plugin"},
		ObjectMeta: metav1.ObjectMeta{Name: "sim"},
		Spec: krew.PluginSpec{
			Version:          "v" + c.version,
			Homepage:         c.source,
			ShortDescription: "Import, inspect and steer sim-operator's Onomondo SIMs",
			Description: "kubectl sim imports a live Onomondo fleet into SIM manifests, shows the fleet at a glance,\n" +
				"previews what Git will change in the Onomondo API, and retries, pauses or resumes resources.\n",
		},
	}
	for _, p := range pluginPlatforms {
		bin := filepath.Join(tmp, "kubectl-sim-"+p.OS+"-"+p.Architecture)
		if err := build(c, "./cmd/kubectl-sim", p, bin); err != nil {
			return err
		}
		name := fmt.Sprintf("kubectl-sim_v%s_%s_%s.tar.gz", c.version, p.OS, p.Architecture)
		sum, err := archive(filepath.Join(c.out, name), bin, license)
		if err != nil {
			return err
		}
		manifest.Spec.Platforms = append(manifest.Spec.Platforms, krew.Platform{
			URI:      fmt.Sprintf("%s/releases/download/v%s/%s", c.source, c.version, name),
			Sha256:   sum,
			Bin:      "kubectl-sim",
			Files:    []krew.FileOperation{{From: "kubectl-sim", To: "."}, {From: "LICENSE", To: "."}},
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"os": p.OS, "arch": p.Architecture}},
		})
	}
	data, err := yaml.Marshal(manifest)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.out, "krew-sim.yaml"), data, 0o644)
}

// archive writes a tar.gz of the binary (as kubectl-sim) and the licence,
// and returns its SHA-256.
func archive(path, bin string, license []byte) (string, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"kubectl-sim", 0o755, data}, {"LICENSE", 0o644, license}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), Typeflag: tar.TypeReg,
			ModTime: time.Unix(0, 0)}); err != nil {
			return "", err
		}
		if _, err := tw.Write(f.data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := gz.Close(); err != nil {
		return "", err
	}
	sum := sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(sum[:]), os.WriteFile(path, buf.Bytes(), 0o644)
}

// chart lints the chart and packages it with the release's version and
// image tag.
func chart(c config) error {
	dir := filepath.Join(c.repo, "dist", "chart")
	for _, m := range lint.All(dir, nil, "sim-operator", false).Messages {
		if m.Severity >= support.WarningSev {
			return fmt.Errorf("lint: %s", m)
		}
	}
	chrt, err := loader.Load(dir)
	if err != nil {
		return err
	}
	chrt.Metadata.Version, chrt.Metadata.AppVersion = c.version, "v"+c.version
	_, err = chartutil.Save(chrt, c.out)
	return err
}

// sbom writes the manager's software bill of materials (CycloneDX JSON):
// the modules compiled into it, from the Go toolchain's own facts.
func sbom(c config) error {
	gen, err := app.NewGenerator(c.repo, app.WithMainDir("."), app.WithIncludeStdlib(true))
	if err != nil {
		return err
	}
	bom, err := gen.Generate()
	if err != nil {
		return err
	}
	bom.SerialNumber = "urn:uuid:" + uuidFrom("sim-operator "+c.version+" "+c.revision)
	if bom.Metadata == nil {
		bom.Metadata = &cdx.Metadata{}
	}
	bom.Metadata.Timestamp = time.Unix(0, 0).UTC().Format(time.RFC3339)
	if comp := bom.Metadata.Component; comp != nil {
		comp.Version = "v" + c.version
	}
	f, err := os.Create(filepath.Join(c.out, "sbom.cdx.json"))
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	enc := cdx.NewBOMEncoder(f, cdx.BOMFileFormatJSON)
	enc.SetPretty(true)
	return enc.Encode(bom)
}

// uuidFrom is a name-based UUID (version 5 layout over SHA-256), so that
// the same release has the same SBOM serial number.
func uuidFrom(name string) string {
	s := sha256.Sum256([]byte(name))
	s[6] = (s[6] & 0x0f) | 0x50
	s[8] = (s[8] & 0x3f) | 0x80
	h := hex.EncodeToString(s[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// checksums writes SHA256SUMS of every file of the release (the image
// layout's blobs are content-addressed already: its index is listed).
func checksums(c config) error {
	entries, err := os.ReadDir(c.out)
	if err != nil {
		return err
	}
	var lines []string
	for _, e := range entries {
		if e.IsDir() || e.Name() == "SHA256SUMS" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(c.out, e.Name()))
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		lines = append(lines, hex.EncodeToString(sum[:])+"  "+e.Name())
	}
	index, err := os.ReadFile(filepath.Join(c.out, "image", "index.json"))
	if err != nil {
		return err
	}
	sum := sha256.Sum256(index)
	lines = append(lines, hex.EncodeToString(sum[:])+"  image/index.json")
	slices.Sort(lines)
	return os.WriteFile(filepath.Join(c.out, "SHA256SUMS"), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}
