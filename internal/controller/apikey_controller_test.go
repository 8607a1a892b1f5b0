package controller_test

import (
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

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
	It("hands each new apiKey to the client, and keeps the old one when the key is missing", func() {
		ref := types.NamespacedName{Namespace: nsSpec, Name: "onomondo-api-key"}
		keys := &keyRecorder{}
		r := &controller.APIKeyReconciler{Client: k8sClient, Secret: ref, API: keys}
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ref.Namespace, Name: ref.Name},
			StringData: map[string]string{"apiKey": "first"}}
		Expect(k8sClient.Create(ctx, secret)).To(Succeed())
		_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: ref})
		Expect(err).NotTo(HaveOccurred())

		By("rotating the key")
		secret.StringData = map[string]string{"apiKey": "second"}
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		_, err = r.Reconcile(ctx, ctrl.Request{NamespacedName: ref})
		Expect(err).NotTo(HaveOccurred())

		By("emptying it")
		secret.Data, secret.StringData = map[string][]byte{}, nil
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		_, err = r.Reconcile(ctx, ctrl.Request{NamespacedName: ref})
		Expect(err).NotTo(HaveOccurred())
		Expect(keys.keys).To(Equal([]string{"first", "second"}))
	})
})
