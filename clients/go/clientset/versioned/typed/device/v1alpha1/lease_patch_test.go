package v1alpha1

import (
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
)

func storedLease() *devicev1alpha1.Lease {
	renew := metav1.NewMicroTime(time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC))
	return &devicev1alpha1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "l", Namespace: "default", UID: "u-1", ResourceVersion: "7", Generation: 1,
			// Sub-second: the JSON form of metav1.Time has whole seconds only.
			CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 600000000, time.UTC)),
			Labels:            map[string]string{"keep": "1"}},
		Spec: devicev1alpha1.LeaseSpec{HolderIdentity: "node-1", LeaseDurationSeconds: 30, AcquireTime: &renew,
			RenewTime: &renew, ConditionTypes: []string{"NVMLReady"}},
	}
}

// The client side of lease patches: what changes, what may not, and what is refused
// with which predicate, without a server.
func TestApplyLeasePatch(t *testing.T) {
	cur := storedLease()
	next, err := applyLeasePatch(cur, types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"zone":"a","keep":null}},"spec":{"holderIdentity":"node-2","renewTime":null,"conditionTypes":["A","B"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if next.Spec.HolderIdentity != "node-2" || next.Spec.RenewTime != nil || len(next.Spec.ConditionTypes) != 2 ||
		next.Labels["zone"] != "a" || next.Labels["keep"] != "" || next.Spec.AcquireTime == nil ||
		!next.Spec.AcquireTime.Equal(cur.Spec.AcquireTime) {
		t.Fatalf("merge patch: %+v", next)
	}
	// The metadata the server owns goes back exactly as read, with the resourceVersion
	// that makes the update conditional.
	if !next.CreationTimestamp.Equal(&cur.CreationTimestamp) || next.ResourceVersion != "7" || next.UID != "u-1" || next.Generation != 1 {
		t.Fatalf("server-owned metadata changed: %+v", next.ObjectMeta)
	}
	if cur.Spec.HolderIdentity != "node-1" || cur.Labels["keep"] != "1" {
		t.Fatal("the read lease was modified")
	}
	if next, err := applyLeasePatch(cur, types.StrategicMergePatchType, []byte(`{"spec":{"leaseDurationSeconds":60}}`)); err != nil ||
		next.Spec.LeaseDurationSeconds != 60 || next.Spec.HolderIdentity != "node-1" {
		t.Fatalf("strategic merge patch: %v %+v", err, next)
	}
	for _, doc := range []string{`{}`, `{"metadata":{"resourceVersion":"7"},"spec":{"holderIdentity":"node-1"}}`,
		`{"metadata":{"resourceVersion":""}}`} {
		if next, err := applyLeasePatch(cur, types.MergePatchType, []byte(doc)); err != nil || next != nil {
			t.Errorf("%s changes nothing: %v %+v", doc, err, next)
		}
	}
	for doc, check := range map[string]func(error) bool{
		`{"metadata":{"resourceVersion":"6"}}`:       apierrors.IsConflict,
		`{"metadata":{"name":"m"}}`:                  apierrors.IsInvalid,
		`{"metadata":{"namespace":"other"}}`:         apierrors.IsInvalid,
		`{"metadata":{"creationTimestamp":null}}`:    apierrors.IsInvalid,
		`{"metadata":{"generation":2}}`:              apierrors.IsInvalid,
		`{"metadata":null}`:                          apierrors.IsInvalid,
		`{"kind":"Lease"}`:                           apierrors.IsInvalid,
		`{"spec":{"holder":"x"}}`:                    apierrors.IsInvalid,
		`{"spec":{"leaseDurationSeconds":"60"}}`:     apierrors.IsInvalid,
		`{"spec":`:                                   apierrors.IsInvalid,
		`null`:                                       apierrors.IsInvalid,
		`"spec"`:                                     apierrors.IsInvalid,
		`{"spec":{"conditionTypes":{"$patch":"x"}}}`: apierrors.IsInvalid,
	} {
		if _, err := applyLeasePatch(cur, types.MergePatchType, []byte(doc)); !check(err) {
			t.Errorf("%s: %v", doc, err)
		}
	}
}

// S1, S31: a lease's times keep their nanoseconds through a patch that does not change
// them (their JSON form has microseconds), so a patch that changes nothing is no write and
// takes no revision, and one that changes something else leaves them exactly as stored.
func TestLeasePatchKeepsTimesItDoesNotChange(t *testing.T) {
	cur := storedLease()
	exact := metav1.NewMicroTime(time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC))
	cur.Spec.AcquireTime, cur.Spec.RenewTime = exact.DeepCopy(), exact.DeepCopy()
	if next, err := applyLeasePatch(cur, types.MergePatchType, []byte(`{"metadata":{"labels":{"keep":"1"}}}`)); err != nil || next != nil {
		t.Fatalf("a patch that changes nothing: %v %+v", err, next)
	}
	next, err := applyLeasePatch(cur, types.MergePatchType, []byte(`{"metadata":{"labels":{"zone":"a"}}}`))
	if err != nil || next == nil {
		t.Fatalf("label patch: %v %+v", err, next)
	}
	if next.Spec.RenewTime.Nanosecond() != 123456789 || next.Spec.AcquireTime.Nanosecond() != 123456789 {
		t.Errorf("times rewritten: renew %v, acquire %v", next.Spec.RenewTime, next.Spec.AcquireTime)
	}
	later := `{"spec":{"renewTime":"2026-01-02T03:04:06.000001Z"}}`
	if next, err := applyLeasePatch(cur, types.MergePatchType, []byte(later)); err != nil || next == nil ||
		!next.Spec.RenewTime.Equal(&metav1.MicroTime{Time: time.Date(2026, 1, 2, 3, 4, 6, 1000, time.UTC)}) {
		t.Fatalf("a renewal: %v %+v", err, next)
	}
}
