package controller

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
)

// The SMSMessage controller's wiring: what it watches, and which events of
// those wake which messages. Its decisions are in smsmessage_controller.go.

// recipientChanged passes the SIM events that can change what a waiting
// message needs: a SIM appearing or leaving, or its recipient (or the
// reason it has none) changing. The finalizer and status writes of a
// fleet's creation pass no further.
var recipientChanged = predicate.Funcs{
	// A starting process queues every message itself: the SIMs of its
	// initial list wake none (a list of messages per SIM, for nothing).
	CreateFunc: func(e event.CreateEvent) bool { return !e.IsInInitialList },
	UpdateFunc: func(e event.UpdateEvent) bool {
		old, oldOK := e.ObjectOld.(*v1alpha1.SIM)
		cur, curOK := e.ObjectNew.(*v1alpha1.SIM)
		if !oldOK || !curOK {
			return true
		}
		oldTo, oldReason, _ := simRecipient(old)
		curTo, curReason, _ := simRecipient(cur)
		return oldTo != curTo || oldReason != curReason
	},
}

// SetupWithManager watches SMSMessages, and SIMs for the messages that wait
// on them, and runs the sweep of expired SMS records.
func (r *SMSMessageReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.records != nil {
		if err := mgr.Add(r.records); err != nil {
			return err
		}
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.SMSMessage{}).
		Watches(&v1alpha1.SIM{}, handler.EnqueueRequestsFromMapFunc(r.waitingOn), builder.WithPredicates(recipientChanged)).
		WatchesRawSource(source.Channel(r.wake, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.opts.MaxConcurrentReconciles, 1)}).
		Named("smsmessage")
	return watchAccounts(b, mgr.GetCache(), &v1alpha1.SMSMessage{}).Complete(r)
}

// IndexSMSBySIM indexes messages by the SIM their simRef names, for the SIM
// controller (a waiting message makes it read the MSISDN) and this one
// (a SIM's change wakes its messages). Register it once per manager.
func IndexSMSBySIM(mgr ctrl.Manager) error {
	return mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.SMSMessage{}, smsSIMRefIndex,
		func(obj client.Object) []string {
			if ref := obj.(*v1alpha1.SMSMessage).Spec.SIMRef; ref != nil {
				return []string{ref.Name}
			}
			return nil
		})
}

// waitingOn wakes the messages that name a SIM.
func (r *SMSMessageReconciler) waitingOn(ctx context.Context, obj client.Object) []reconcile.Request {
	return waitingMessages(ctx, r.Client, client.ObjectKeyFromObject(obj))
}

// waitingMessages are the unfinished messages whose simRef names the SIM
// (none if the cache cannot say): the SIM controller reads the MSISDN for
// them, and this controller wakes them when the SIM changes.
func waitingMessages(ctx context.Context, reader client.Reader, sim client.ObjectKey) []reconcile.Request {
	var list v1alpha1.SMSMessageList
	if err := reader.List(ctx, &list, client.InNamespace(sim.Namespace),
		client.MatchingFields{smsSIMRefIndex: sim.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		if m := &list.Items[i]; !finished(m) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(m)})
		}
	}
	return reqs
}
