package controller_test

import (
	"context"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sim-operator/sim-operator/internal/controller"
)

// keyRecorder keeps the keys it was given.
type keyRecorder struct {
	mu   sync.Mutex
	keys []string
}

func (k *keyRecorder) SetAPIKey(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys = append(k.keys, key)
}

var _ = Describe("API key Secret", func() {
	It("hands each new apiKey to the client, keeps the old one when the key is missing, and says when it changed", func() {
		ref := types.NamespacedName{Namespace: nsSpec, Name: "onomondo-api-key"}
		keys := &keyRecorder{}
		changes := 0
		r := &controller.APIKeyReader{Reader: k8sClient, Secret: ref, API: keys,
			OnChange: []func(context.Context){func(context.Context) { changes++ }}}
		By("no Secret yet: no key, and no error")
		Expect(r.Sync(ctx)).To(BeFalse())

		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ref.Namespace, Name: ref.Name},
			StringData: map[string]string{"apiKey": "first"}}
		Expect(k8sClient.Create(ctx, secret)).To(Succeed())
		Expect(r.Sync(ctx)).To(BeTrue())
		Expect(r.Sync(ctx)).To(BeFalse(), "the same key again is no change")

		By("rotating the key")
		secret.StringData = map[string]string{"apiKey": "second"}
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		Expect(r.Sync(ctx)).To(BeTrue())

		By("emptying it keeps the last key")
		secret.Data, secret.StringData = map[string][]byte{}, nil
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		Expect(r.Sync(ctx)).To(BeFalse())
		Expect(keys.keys).To(Equal([]string{"first", "second"}))
		Expect(changes).To(Equal(2))
	})
})
