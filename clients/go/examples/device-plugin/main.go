// Command device-plugin is an example Kubernetes device plugin backed by the Device API:
// it advertises the node's GPUs as --resource-name, with each GPU's health taken from its
// conditions in the Device API, and registers with the kubelet. The work is done by
// package deviceplugin/plugin; see docs/device-plugin.md.
//
// It exits 0 on SIGTERM or SIGINT, and 1 when it cannot serve.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/nvidia/device-api-server/clients/go/clientset/versioned"
	"github.com/nvidia/device-api-server/clients/go/connection"
	"github.com/nvidia/device-api-server/clients/go/deviceplugin/plugin"
)

func main() {
	resource := flag.String("resource-name", plugin.DefaultResourceName, "extended resource the GPUs are advertised as")
	kubelet := flag.String("kubelet-socket", plugin.DefaultKubeletSocket, "the kubelet's device plugin registration socket")
	socket := flag.String("plugin-socket", plugin.DefaultPluginSocket, "socket the plugin serves on; must be in the kubelet socket's directory")
	server := flag.String("server", "", "Device API target (default $"+connection.TargetEnv+", else "+connection.DefaultTarget+")")
	flag.Parse()
	if err := run(*server, plugin.Options{ResourceName: *resource, KubeletSocket: *kubelet, PluginSocket: *socket}); err != nil {
		log.Print(err)
		os.Exit(1)
	}
	log.Print("stopped")
}

func run(target string, o plugin.Options) error {
	cs, err := versioned.NewForConfig(&connection.Config{Target: target})
	if err != nil {
		return err
	}
	defer cs.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o.Client = cs
	return plugin.Run(ctx, o)
}
