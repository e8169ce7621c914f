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

// retryInterval paces registration attempts and checks of the plugin's socket.
const retryInterval = time.Second

// drainTimeout bounds how long stopping waits for calls in flight to end. A ListAndWatch
// whose client stopped reading (a hung kubelet) while devices changed blocks in Send until
// its stream is cancelled, which GracefulStop never does: it would wait forever.
const drainTimeout = 3 * time.Second

// ending says why serveOnce stopped serving.
type ending int

const (
	stopped  ending = iota // ctx ended, or serving failed
	removed                // the socket was deleted: a kubelet restart
	replaced               // another socket is at the path now
)

// serve runs the gRPC server on o.PluginSocket and registers it until ctx ends, again
// each time the socket is deleted (a kubelet restart).
//
// Another socket at the path means a newer instance of the plugin took over (a DaemonSet
// rollout that starts the new pod before the old one has ended, or while it is
// Terminating): the kubelet dials the path, so it talks to that instance now. This one
// then stops serving and neither registers nor exits until ctx ends: registering would
// only make the kubelet reconnect to the newer one, taking the path back would start a
// fight every second, and exiting would restart its container, which would take it back.
// Should that socket be deleted (the newer instance ended, or the kubelet restarted), this
// one serves and registers again, so a node is not left without a plugin.
func serve(ctx context.Context, srv *server, o Options) error {
	for {
		why, err := serveOnce(ctx, srv, o)
		switch {
		case err != nil || why == stopped:
			return err
		case why == removed:
			o.Logf("%s was removed (kubelet restart?): serving and registering again", o.PluginSocket)
		case why == replaced:
			o.Logf("%s was replaced by another socket (a newer instance of the plugin?): "+
				"not serving or registering until that one is removed", o.PluginSocket)
			if !awaitRemoved(ctx, o.PluginSocket) {
				return nil
			}
			o.Logf("%s was removed: serving and registering again", o.PluginSocket)
		}
	}
}

// serveOnce serves until ctx ends or serving fails (stopped), or its socket is deleted
// (removed) or replaced (replaced).
func serveOnce(ctx context.Context, srv *server, o Options) (ending, error) {
	// A socket left by an earlier run would make Listen fail; one that an older instance
	// still serves on is taken over (see serve).
	if err := os.Remove(o.PluginSocket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return stopped, err
	}
	lis, err := net.ListenUnix("unix", &net.UnixAddr{Name: o.PluginSocket, Net: "unix"})
	if err != nil {
		return stopped, err
	}
	// Closing the listener would unlink the path by name, whoever's socket is there by
	// then: removeIfOwn removes it only while it is this one's.
	lis.SetUnlinkOnClose(false)
	own, err := os.Stat(o.PluginSocket)
	if err != nil {
		lis.Close()
		return stopped, err
	}
	gs := grpc.NewServer()
	pluginapi.RegisterDevicePluginServer(gs, srv)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()

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
			// Before the listener closes: while it is open its socket's inode cannot be
			// reused, so a newer instance's socket cannot pass for this one's.
			removeIfOwn(o.PluginSocket, own)
			// ListAndWatch streams end with ctx (server.done), but one blocked in Send
			// does not see it: stopServing cuts it after drainTimeout.
			stopServing(gs)
			return stopped, nil
		case err := <-served:
			removeIfOwn(o.PluginSocket, own)
			return stopped, fmt.Errorf("serving %s: %w", o.PluginSocket, err)
		case <-tick.C:
			fi, err := os.Stat(o.PluginSocket)
			switch {
			case errors.Is(err, os.ErrNotExist):
				// The kubelet that deleted it has no stream left worth draining.
				gs.Stop()
				<-served
				return removed, nil
			case err == nil && !os.SameFile(fi, own):
				// The kubelet ends its streams here once it has taken up the newer
				// instance's registration; ending them first could leave it without
				// devices in between.
				stopServing(gs)
				<-served
				return replaced, nil
			}
		}
	}
}

// stopServing stops gs, giving calls in flight up to drainTimeout to end before it
// cancels them.
func stopServing(gs *grpc.Server) {
	drained := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(drainTimeout):
		gs.Stop() // GracefulStop returns too once Stop has closed the connections
		<-drained
	}
}

// removeIfOwn removes the socket at path if it is own (the file this instance created),
// not another instance's socket that replaced it. Only a replacement in the instant
// between the check and the removal would escape it: Unix has no unlink-if-same-file.
func removeIfOwn(path string, own os.FileInfo) {
	if fi, err := os.Stat(path); err == nil && os.SameFile(fi, own) {
		os.Remove(path)
	}
}

// awaitRemoved checks every retryInterval until path does not exist (true) or ctx
// ends (false).
func awaitRemoved(ctx context.Context, path string) bool {
	tick := time.NewTicker(retryInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
			if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
				return true
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
