package connection

import (
	"testing"
	"time"
)

func TestTargetFromConfigThenEnvironmentThenDefault(t *testing.T) {
	t.Setenv(TargetEnv, "")
	if got := (&Config{}).ResolvedTarget(); got != DefaultTarget {
		t.Errorf("default: %q", got)
	}
	t.Setenv(TargetEnv, "unix:///run/x.sock")
	if got := (*Config)(nil).ResolvedTarget(); got != "unix:///run/x.sock" {
		t.Errorf("environment: %q", got)
	}
	if got := (&Config{Target: "localhost:1"}).ResolvedTarget(); got != "localhost:1" {
		t.Errorf("config: %q", got)
	}
}

func TestTimeoutDefaults(t *testing.T) {
	for _, c := range []struct {
		in, want time.Duration
	}{{0, DefaultTimeout}, {-1, 0}, {time.Second, time.Second}} {
		if got := (&Config{Timeout: c.in}).ResolvedTimeout(); got != c.want {
			t.Errorf("Timeout %v: %v, want %v", c.in, got, c.want)
		}
	}
}

func TestBadTLSFilesAreErrors(t *testing.T) {
	for _, tc := range []*TLSConfig{
		{CAFile: "/nonexistent/ca.crt"},
		{CertFile: "/nonexistent/c.crt"},
		{CertFile: "/nonexistent/c.crt", KeyFile: "/nonexistent/c.key"},
	} {
		if _, err := Dial(&Config{Target: "localhost:1", TLS: tc}); err == nil {
			t.Errorf("%+v accepted", tc)
		}
	}
}
