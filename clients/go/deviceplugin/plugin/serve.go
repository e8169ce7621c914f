package plugin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

// retryInterval paces registration attempts and checks that the plugin's socket exists.
const retryInterval = time.Second

// serve runs the gRPC server on o.PluginSocket and registers it, again each time the
// socket is deleted (a kubelet restart), until ctx ends.
func serve(ctx context.Context, srv *server, o Options) error {
	for {
		gone, err := serveOnce(ctx, srv, o)
		if err != nil || !gone {
			return err
		}
		o.Logf("%s was removed (kubelet restart?): serving and registering again", o.PluginSocket)
	}
}

// serveOnce serves until ctx ends (gone false) or the socket disappears (gone true).
func serveOnce(ctx context.Context, srv *server, o Options) (gone bool, err error) {
	// A socket left by an earlier run would make Listen fail.
	if err := os.Remove(o.PluginSocket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	lis, err := net.Listen("unix", o.PluginSocket)
	if err != nil {
		return false, err
	}
	gs := grpc.NewServer()
	pluginapi.RegisterDevicePluginServer(gs, srv)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	defer os.Remove(o.PluginSocket)

	// Registration retries until it succeeds or this socket's life ends: an attempt
	// must not outlive the socket it names.
	regCtx, stopRegistering := context.WithCancel(ctx)
	registered := make(chan struct{})
	go func() {
		register(regCtx, o)
		close(registered)
	}()
	defer func() { stopRegistering(); <-registered }()

	tick := time.NewTicker(retryInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			// ListAndWatch streams end with ctx (server.done), so this does not hang.
			gs.GracefulStop()
			return false, nil
		case err := <-served:
			return false, fmt.Errorf("serving %s: %w", o.PluginSocket, err)
		case <-tick.C:
			if _, err := os.Stat(o.PluginSocket); errors.Is(err, os.ErrNotExist) {
				// The kubelet that deleted it has no stream left worth draining.
				gs.Stop()
				<-served
				return true, nil
			}
		}
	}
}

// register tells the kubelet about the plugin, retrying until it accepts or ctx ends.
func register(ctx context.Context, o Options) {
	req := &pluginapi.RegisterRequest{
		Version:      pluginapi.Version,
		Endpoint:     filepath.Base(o.PluginSocket),
		ResourceName: o.ResourceName,
		Options:      options,
	}
	for {
		err := registerOnce(ctx, o.KubeletSocket, req)
		if err == nil {
			o.Logf("registered %s (endpoint %s) with the kubelet at %s", req.ResourceName, req.Endpoint, o.KubeletSocket)
			return
		}
		o.Logf("registering with the kubelet at %s: %v (retrying)", o.KubeletSocket, err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(retryInterval):
		}
	}
}

func registerOnce(ctx context.Context, kubeletSocket string, req *pluginapi.RegisterRequest) error {
	conn, err := grpc.NewClient("unix://"+kubeletSocket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = pluginapi.NewRegistrationClient(conn).Register(ctx, req)
	return err
}
