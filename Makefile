# VERSION (the file) is the one source of the released version: the image
# tag of the bundle, the chart's version and appVersion (make manifests),
# and what make release checks.
RELEASED_VERSION := $(shell cat VERSION)
# Image URL to use all building/pushing image targets
IMAGE_REPO ?= ghcr.io/sim-operator/sim-operator
IMG ?= $(IMAGE_REPO):v$(RELEASED_VERSION)
# VERSION and REVISION are stamped into the manager (--version, sim_operator_build_info).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null | sed 's/^v//' || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS = -X github.com/sim-operator/sim-operator/internal/version.Version=$(VERSION) -X github.com/sim-operator/sim-operator/internal/version.Revision=$(REVISION)
# RELEASE_DIR is where make release writes.
RELEASE_DIR ?= dist/release/v$(VERSION)
# YEAR defines the year value used for substituting the YEAR placeholder in the boilerplate header.
YEAR ?= 2026

# Get the currently used golang install path (in GOPATH/bin, unless GOBIN is set)
ifeq (,$(shell go env GOBIN))
GOBIN=$(shell go env GOPATH)/bin
else
GOBIN=$(shell go env GOBIN)
endif

# CONTAINER_TOOL defines the container tool to be used for building images.
# Be aware that the target commands are only tested with Docker which is
# scaffolded by default. However, you might want to replace it to use other
# tools. (i.e. podman)
CONTAINER_TOOL ?= docker

# Setting SHELL to bash allows bash commands to be executed by recipes.
# Options are set to exit when a recipe line exits non-zero or a piped command fails.
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

# The help target prints out all targets with their descriptions organized
# beneath their categories. The categories are represented by '##@' and the
# target descriptions by '##'. The awk command is responsible for reading the
# entire set of makefiles included in this invocation, looking for lines of the
# file as xyz: ## something, and then pretty-format the target and help. Then,
# if there's a line with ##@ something, that gets pretty-printed as a category.
# More info on the usage of ANSI control characters for terminal formatting:
# https://en.wikipedia.org/wiki/ANSI_escape_code#SGR_parameters
# More info on the awk command:
# http://linuxcommand.org/lc3_adv_awk.php

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen crd-ref-docs ## Generate WebhookConfiguration, ClusterRole and CustomResourceDefinition objects, and the API reference.
	"$(CONTROLLER_GEN)" rbac:roleName=manager-role crd webhook paths="./..." output:crd:artifacts:config=config/crd/bases
	hack/argocd-cm.sh
	go run ./hack/chartsync
	"$(CRD_REF_DOCS)" --config hack/crd-ref-docs/config.yaml --source-path api/v1alpha1 --renderer markdown \
		--output-path docs/api-reference.md --log-level ERROR

.PHONY: generate
generate: controller-gen ## Generate code containing DeepCopy, DeepCopyInto, and DeepCopyObject method implementations.
	"$(CONTROLLER_GEN)" object:headerFile="hack/boilerplate.go.txt",year=$(YEAR) paths="./..."

.PHONY: fmt
fmt: ## Run go fmt against code (every module).
	go fmt ./...
	for m in $(TEST_MODULES); do (cd $$m && go fmt ./...); done

.PHONY: vet
vet: ## Run go vet against code (every module).
	go vet ./...
	for m in $(TEST_MODULES); do (cd $$m && go vet ./...); done

# Modules of their own, so that their heavy libraries stay out of the
# operator's dependency graph: the chart and monitoring tests (Helm,
# Prometheus' rule engine), the benchmark (gonum/plot), the release tool
# (go-containerregistry, krew, cyclonedx-gomod). make test runs them all.
TEST_MODULES = test internal/bench tools/release

.PHONY: test
test: manifests generate build-installer fmt vet envtest doc-samples-deps ## Run vet, unit, fuzz-seed and envtest tests of every module (and make release's); fail if generated files drift.
	@echo "make test: resolving envtest assets (kube-apiserver $(ENVTEST_K8S_VERSION), etcd)"
	assets="$$(SETUP_ENVTEST="$(ENVTEST)" ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/envtest-assets.sh)"; \
	KUBEBUILDER_ASSETS="$$assets" go test ./... -coverprofile cover.out $(TEST_ARGS); \
	for m in $(TEST_MODULES); do \
		echo "make test: module $$m"; \
		(cd $$m && KUBEBUILDER_ASSETS="$$assets" go test ./... $(TEST_ARGS)) || exit 1; \
	done
	$(MAKE) cover-decisions
	$(MAKE) verify-generated

# The engine, the decision and the kinds' decision code, proven without
# envtest (on fakes); envtest is left for wiring.
DECISION_FILES_ENGINE = decision.go,managed.go,early.go,observation.go,claims.go,duplicates.go,conditions.go,retry.go,statuspatch.go
DECISION_FILES_CONNECTOR = connector_controller.go,connector_current.go
DECISION_FILES_SMS = smsmessage_controller.go

.PHONY: cover-decisions
cover-decisions: ## Fail if the controller package's tests without envtest cover under 95% of the engine, Connector or SMSMessage decision code.
	go test ./internal/decision/ ./internal/controller/ -skip '^TestControllers$$' -count=1 -coverprofile cover-unit.out >/dev/null
	go run ./hack/filecover -profile cover-unit.out -min 95 \
		engine=$(DECISION_FILES_ENGINE) connector=$(DECISION_FILES_CONNECTOR) sms=$(DECISION_FILES_SMS)

.PHONY: doc-samples-deps
doc-samples-deps: ## Install the request package for the API doc's NodeJS samples test (skipped without npm).
	@if command -v npm >/dev/null 2>&1; then \
		cd hack/doc-samples && npm ci --no-audit --no-fund --silent; \
	else echo "npm not found: the doc's NodeJS samples test will be skipped"; fi

.PHONY: verify-generated
verify-generated: ## Fail if generation or go fmt changed committed files (or left new generated ones).
	@changed="$$(git status --porcelain --untracked-files=no 2>/dev/null; git status --porcelain -- api config dist 2>/dev/null | grep '^??' || true)"; \
	if [ -n "$$changed" ]; then \
		echo "make manifests generate build-installer fmt changed these files; run them and commit:"; \
		echo "$$changed"; git --no-pager diff --stat; exit 1; \
	fi

.PHONY: envtest-assets
envtest-assets: envtest ## Find or build kube-apiserver and etcd for envtest; print their directory.
	@SETUP_ENVTEST="$(ENVTEST)" ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/envtest-assets.sh

.PHONY: sandbox
sandbox: manifests envtest ## Run the operator on a local control plane + simulator (ARGS=--demo to run once and exit).
	assets="$$(SETUP_ENVTEST="$(ENVTEST)" ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/envtest-assets.sh)"; \
	KUBEBUILDER_ASSETS="$$assets" go run ./hack/sandbox $(ARGS)

.PHONY: bench
bench: envtest ## Benchmark at fleet scale (BENCH_SIMS=1000, BENCH_RATE_LIMITED_SIMS=1000, BENCH_CURRENT_SIMS=1000, BENCH_SHARD_SIMS=1000 per shard); tables + bin/bench/results.json.
	go build -o bin/manager main.go
	cd internal/bench && go build -o ../../bin/bench-runner ./cmd/bench
	assets="$$(SETUP_ENVTEST="$(ENVTEST)" ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/envtest-assets.sh)"; \
	KUBEBUILDER_ASSETS="$$assets" bin/bench-runner $(ARGS)

BENCH_CURVE ?= 1000,10000,30000,50000

.PHONY: bench-curve
bench-curve: envtest ## Cost curve at BENCH_CURVE sizes (create, restart, failover at each); tables + bin/bench/curve.json and curve.svg.
	go build -o bin/manager main.go
	cd internal/bench && go build -o ../../bin/bench-runner ./cmd/bench
	assets="$$(SETUP_ENVTEST="$(ENVTEST)" ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/envtest-assets.sh)"; \
	KUBEBUILDER_ASSETS="$$assets" bin/bench-runner --curve=$(BENCH_CURVE) $(ARGS)

.PHONY: simulator
simulator: ## Serve the Onomondo API simulator over HTTPS on 127.0.0.1:8443 (API key: sandbox-key).
	go run ./hack/simulator --listen 127.0.0.1:8443 --api-key $${ONOMONDO_API_KEY:-sandbox-key} --ca-file bin/simulator-ca.pem

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build manager binary.
	go build -ldflags "$(LDFLAGS)" -o bin/manager main.go

.PHONY: plugin
plugin: ## Build the kubectl plugin (bin/kubectl-sim; put it on PATH as kubectl-sim, or go install ./cmd/kubectl-sim).
	go build -ldflags "$(LDFLAGS)" -o bin/kubectl-sim ./cmd/kubectl-sim

.PHONY: run
run: manifests generate fmt vet ## Run a controller from your host.
	go run ./main.go

# If you wish to build the manager image targeting other platforms you can use the --platform flag.
# (i.e. docker build --platform linux/arm64). However, you must enable docker buildKit for it.
# More info: https://docs.docker.com/develop/develop-images/build_enhancements/
# Override BASE_IMAGE to build from another registry, e.g.
# make docker-build IMG=<img> BASE_IMAGE=docker.io/library/golang:1.26
.PHONY: docker-build
docker-build: ## Build docker image with the manager.
	$(CONTAINER_TOOL) build $(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE)) \
		--build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) -t ${IMG} .

.PHONY: docker-push
docker-push: ## Push docker image with the manager.
	$(CONTAINER_TOOL) push ${IMG}

# PLATFORMS defines the target platforms for the manager image be built to provide support to multiple
# architectures. (i.e. make docker-buildx IMG=myregistry/mypoperator:0.0.1). To use this option you need to:
# - be able to use docker buildx. More info: https://docs.docker.com/build/buildx/
# - have enabled BuildKit. More info: https://docs.docker.com/develop/develop-images/build_enhancements/
# - be able to push the image to your registry (i.e. if you do not set a valid value via IMG=<myregistry/image:<tag>> then the export will fail)
# To adequately provide solutions that are compatible with multiple platforms, you should consider using this option.
PLATFORMS ?= linux/arm64,linux/amd64,linux/s390x,linux/ppc64le
.PHONY: docker-buildx
docker-buildx: ## Build and push docker image for the manager for cross-platform support
	# copy existing Dockerfile and insert --platform=${BUILDPLATFORM} into Dockerfile.cross, and preserve the original Dockerfile
	sed -e '1 s/\(^FROM\)/FROM --platform=\$$\{BUILDPLATFORM\}/; t' -e ' 1,// s//FROM --platform=\$$\{BUILDPLATFORM\}/' Dockerfile > Dockerfile.cross
	- $(CONTAINER_TOOL) buildx create --name sim-operator-builder
	$(CONTAINER_TOOL) buildx use sim-operator-builder
	- $(CONTAINER_TOOL) buildx build --push --platform=$(PLATFORMS) $(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE)) --tag ${IMG} -f Dockerfile.cross .
	- $(CONTAINER_TOOL) buildx rm sim-operator-builder
	rm Dockerfile.cross

.PHONY: build-installer
build-installer: manifests generate kustomize ## Generate a consolidated YAML with CRDs and deployment.
	mkdir -p dist
	cd config/manager && "$(KUSTOMIZE)" edit set image controller=${IMG}
	"$(KUSTOMIZE)" build config/default > dist/install.yaml

.PHONY: release
release: manifests generate kustomize ## make release VERSION=x.y.z: RELEASE_DIR (dist/release/vX.Y.Z) with the image (OCI layout), kubectl-sim archives + krew manifest, chart, install.yaml, SBOM, CHANGELOG, SHA256SUMS.
	@[[ "$(VERSION)" =~ ^[0-9]+\.[0-9]+\.[0-9]+$$ ]] || { echo "make release: VERSION=x.y.z is required (got '$(VERSION)')"; exit 1; }
	rm -rf bin/release && mkdir -p bin/release "$(RELEASE_DIR)"
	cp -r config bin/release/config
	cd bin/release/config/manager && "$(KUSTOMIZE)" edit set image controller=$(IMAGE_REPO):v$(VERSION)
	"$(KUSTOMIZE)" build bin/release/config/default > "$(RELEASE_DIR)/install.yaml"
	cd tools/release && go run . --repo "$(CURDIR)" --version $(VERSION) --revision "$(REVISION)" \
		--out "$(abspath $(RELEASE_DIR))" --image-repo $(IMAGE_REPO)
	@echo "make release: $(RELEASE_DIR)/ is ready; push and sign it as docs/releasing.md says"

##@ Deployment

ifndef ignore-not-found
  ignore-not-found = false
endif

.PHONY: install
install: manifests kustomize ## Install CRDs into the K8s cluster specified in ~/.kube/config.
	@out="$$( "$(KUSTOMIZE)" build config/crd 2>/dev/null || true )"; \
	if [ -n "$$out" ]; then echo "$$out" | "$(KUBECTL)" apply -f -; else echo "No CRDs to install; skipping."; fi

.PHONY: uninstall
uninstall: manifests kustomize ## Uninstall CRDs from the K8s cluster specified in ~/.kube/config. Call with ignore-not-found=true to ignore resource not found errors during deletion.
	@out="$$( "$(KUSTOMIZE)" build config/crd 2>/dev/null || true )"; \
	if [ -n "$$out" ]; then echo "$$out" | "$(KUBECTL)" delete --ignore-not-found=$(ignore-not-found) -f -; else echo "No CRDs to delete; skipping."; fi

.PHONY: deploy
deploy: manifests kustomize ## Deploy controller to the K8s cluster specified in ~/.kube/config.
	cd config/manager && "$(KUSTOMIZE)" edit set image controller=${IMG}
	"$(KUSTOMIZE)" build config/default | "$(KUBECTL)" apply -f -

.PHONY: undeploy
undeploy: kustomize ## Undeploy controller from the K8s cluster specified in ~/.kube/config. Call with ignore-not-found=true to ignore resource not found errors during deletion.
	"$(KUSTOMIZE)" build config/default | "$(KUBECTL)" delete --ignore-not-found=$(ignore-not-found) -f -

##@ Dependencies

## Location to install dependencies to
LOCALBIN ?= $(shell pwd)/bin
$(LOCALBIN):
	mkdir -p "$(LOCALBIN)"

## Tool Binaries
KUBECTL ?= kubectl
KUSTOMIZE ?= $(LOCALBIN)/kustomize
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
CRD_REF_DOCS ?= $(LOCALBIN)/crd-ref-docs
ENVTEST ?= $(LOCALBIN)/setup-envtest

## Tool Versions
KUSTOMIZE_VERSION ?= v5.8.2
CONTROLLER_TOOLS_VERSION ?= v0.23.0
CRD_REF_DOCS_VERSION ?= v0.3.0

# setup-envtest version, and the Kubernetes version of the envtest assets.
ENVTEST_VERSION ?= v0.25.1
ENVTEST_K8S_VERSION ?= 1.37.2

.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## Download kustomize locally if necessary.
$(KUSTOMIZE): $(LOCALBIN)
	$(call go-install-tool,$(KUSTOMIZE),sigs.k8s.io/kustomize/kustomize/v5,$(KUSTOMIZE_VERSION))

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Download controller-gen locally if necessary.
$(CONTROLLER_GEN): $(LOCALBIN)
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: crd-ref-docs
crd-ref-docs: $(CRD_REF_DOCS) ## Download crd-ref-docs (the API reference generator) locally if necessary.
$(CRD_REF_DOCS): $(LOCALBIN)
	$(call go-install-tool,$(CRD_REF_DOCS),github.com/elastic/crd-ref-docs,$(CRD_REF_DOCS_VERSION))

.PHONY: envtest
envtest: $(ENVTEST) ## Download setup-envtest locally if necessary.
$(ENVTEST): $(LOCALBIN)
	$(call go-install-tool,$(ENVTEST),sigs.k8s.io/controller-runtime/tools/setup-envtest,$(ENVTEST_VERSION))

# go-install-tool will 'go install' any package with custom target and name of binary, if it doesn't exist
# $1 - target path with name of binary
# $2 - package url which can be installed
# $3 - specific version of package
define go-install-tool
@[ -f "$(1)-$(3)" ] && [ "$$(readlink -- "$(1)" 2>/dev/null)" = "$(1)-$(3)" ] || { \
set -e; \
package=$(2)@$(3) ;\
echo "Downloading $${package}" ;\
rm -f "$(1)" ;\
GOBIN="$(LOCALBIN)" go install $${package} ;\
mv "$(LOCALBIN)/$$(basename "$(1)")" "$(1)-$(3)" ;\
} ;\
ln -sf "$$(realpath "$(1)-$(3)")" "$(1)"
endef

