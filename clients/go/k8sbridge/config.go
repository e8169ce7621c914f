package k8sbridge

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Config is what the bridge needs besides its clients.
type Config struct {
	// NodeName is the Node this bridge writes (from the downward API).
	NodeName string
	// ConditionType is the Node condition's type (default GpuHealthy).
	ConditionType string
	// DeviceTaintRules turns the DRA DeviceTaintRules on.
	DeviceTaintRules bool
	// DRADriver is the DRA driver that publishes the node's GPUs (default gpu.nvidia.com).
	DRADriver string
	// UUIDAttribute is the device attribute holding the GPU UUID, as DOMAIN/NAME (default
	// gpu.nvidia.com/uuid, what NVIDIA's DRA driver publishes).
	UUIDAttribute string
	// TaintEffects maps a GPU's recommended action to the DeviceTaintRule's effect.
	TaintEffects EffectMap
	// NodeTaint, when its key is set, is put on the Node while the condition is False.
	NodeTaint corev1.Taint
	// ResyncPeriod re-reconciles everything this often, repairing drift.
	ResyncPeriod time.Duration
	// ProbeInterval is how often the local server's health is checked.
	ProbeInterval time.Duration
	// FieldManager names the bridge in managedFields and events.
	FieldManager string
	// WritesPerPass bounds the rule writes of one reconcile pass (default 10); the next
	// pass starts from the newest GPU state.
	WritesPerPass int
	// HeartbeatInterval is how often an unchanged condition is written again, only its
	// lastHeartbeatTime moved (default 5 minutes), so that its age shows whether the bridge
	// still runs. At least a second: the API keeps lastHeartbeatTime in whole seconds.
	HeartbeatInterval time.Duration
	// AbsentGPUGrace is how long the rule of a GPU that the server no longer holds is kept
	// (default 5 minutes), counted while the server is available and holds GPUs: after a
	// restart in memory mode, the providers register the GPUs again one by one. While the
	// rule is kept, the GPU counts as unknown: the condition is not True and the node
	// taint stays.
	AbsentGPUGrace time.Duration
	// MaxRetryDelay caps the back-off of a failed reconcile (default 15 s): once the
	// Kubernetes API answers again, what changed meanwhile is written within this long.
	MaxRetryDelay time.Duration
}

// Defaults fills what is unset.
func (c *Config) Defaults() {
	if c.ConditionType == "" {
		c.ConditionType = "GpuHealthy"
	}
	if c.DRADriver == "" {
		c.DRADriver = "gpu.nvidia.com"
	}
	if c.UUIDAttribute == "" {
		c.UUIDAttribute = "gpu.nvidia.com/uuid"
	}
	if c.TaintEffects == nil {
		c.TaintEffects = EffectMap{"*": EffectNoSchedule}
	}
	if c.ResyncPeriod == 0 {
		c.ResyncPeriod = 5 * time.Minute
	}
	if c.ProbeInterval == 0 {
		c.ProbeInterval = time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 5 * time.Minute
	}
	if c.AbsentGPUGrace <= 0 {
		c.AbsentGPUGrace = 5 * time.Minute
	}
	if c.MaxRetryDelay <= 0 {
		c.MaxRetryDelay = 15 * time.Second
	}
	if c.WritesPerPass <= 0 {
		c.WritesPerPass = 10
	}
	if c.FieldManager == "" {
		c.FieldManager = "device-api-k8s-bridge"
	}
}

// Validate reports the first invalid setting.
func (c *Config) Validate() error {
	if c.NodeName == "" {
		return fmt.Errorf("the node name is required (--node-name or $NODE_NAME)")
	}
	if errs := validation.IsQualifiedName(c.ConditionType); len(errs) > 0 {
		return fmt.Errorf("condition type %q: %s", c.ConditionType, strings.Join(errs, "; "))
	}
	if _, _, err := c.uuidAttribute(); err != nil {
		return err
	}
	// The API keeps lastHeartbeatTime in whole seconds: with a shorter interval, each
	// heartbeat written would already be due again, and every pass would write one.
	if c.HeartbeatInterval < time.Second {
		return fmt.Errorf("heartbeat interval %s: must be at least 1s, the API keeps lastHeartbeatTime in whole seconds", c.HeartbeatInterval)
	}
	if c.NodeTaint.Key != "" {
		if errs := validation.IsQualifiedName(c.NodeTaint.Key); len(errs) > 0 {
			return fmt.Errorf("node taint key %q: %s", c.NodeTaint.Key, strings.Join(errs, "; "))
		}
	}
	return nil
}

// uuidAttribute splits UUIDAttribute into its domain and name.
func (c *Config) uuidAttribute() (domain, name string, err error) {
	i := strings.LastIndex(c.UUIDAttribute, "/")
	if i <= 0 || i == len(c.UUIDAttribute)-1 {
		return "", "", fmt.Errorf("uuid attribute %q: want DOMAIN/NAME, e.g. gpu.nvidia.com/uuid", c.UUIDAttribute)
	}
	domain, name = c.UUIDAttribute[:i], c.UUIDAttribute[i+1:]
	if errs := validation.IsDNS1123Subdomain(domain); len(errs) > 0 {
		return "", "", fmt.Errorf("uuid attribute domain %q: %s", domain, strings.Join(errs, "; "))
	}
	if errs := validation.IsCIdentifier(name); len(errs) > 0 {
		return "", "", fmt.Errorf("uuid attribute name %q: %s", name, strings.Join(errs, "; "))
	}
	return domain, name, nil
}

// Effect is a DeviceTaint's effect, or EffectNone for no rule at all.
type Effect string

const (
	EffectNoSchedule Effect = "NoSchedule"
	EffectNoExecute  Effect = "NoExecute"
	EffectNone       Effect = "None"
)

// EffectMap maps a recommended action (e.g. RESET_GPU) to an effect; "*" is the default
// for every other action, including none.
type EffectMap map[string]Effect

// For returns the effect for a GPU with this recommended action.
func (m EffectMap) For(action string) Effect {
	if e, ok := m[action]; ok && action != "" {
		return e
	}
	if e, ok := m["*"]; ok {
		return e
	}
	return EffectNoSchedule
}

// ParseEffectMap parses "ACTION=EFFECT,..." (e.g. "RESET_GPU=NoExecute,*=NoSchedule").
func ParseEffectMap(s string) (EffectMap, error) {
	m := EffectMap{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("taint effect %q: want ACTION=EFFECT", item)
		}
		switch e := Effect(v); e {
		case EffectNoSchedule, EffectNoExecute, EffectNone:
			m[k] = e
		default:
			return nil, fmt.Errorf("taint effect %q: effect must be NoSchedule, NoExecute or None", item)
		}
	}
	if _, ok := m["*"]; !ok {
		m["*"] = EffectNoSchedule
	}
	return m, nil
}

// ParseNodeTaint parses KEY[=VALUE]:EFFECT; empty means no node taint.
func ParseNodeTaint(s string) (corev1.Taint, error) {
	if s == "" {
		return corev1.Taint{}, nil
	}
	kv, effect, ok := strings.Cut(s, ":")
	if !ok {
		return corev1.Taint{}, fmt.Errorf("node taint %q: want KEY[=VALUE]:EFFECT", s)
	}
	key, value, _ := strings.Cut(kv, "=")
	t := corev1.Taint{Key: key, Value: value, Effect: corev1.TaintEffect(effect)}
	switch t.Effect {
	case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
	default:
		return corev1.Taint{}, fmt.Errorf("node taint %q: effect must be NoSchedule, PreferNoSchedule or NoExecute", s)
	}
	if errs := validation.IsQualifiedName(key); len(errs) > 0 {
		return corev1.Taint{}, fmt.Errorf("node taint key %q: %s", key, strings.Join(errs, "; "))
	}
	if value != "" {
		if errs := validation.IsValidLabelValue(value); len(errs) > 0 {
			return corev1.Taint{}, fmt.Errorf("node taint value %q: %s", value, strings.Join(errs, "; "))
		}
	}
	return t, nil
}
