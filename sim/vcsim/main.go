// outpost-vcsim: govmomi's vCenter simulator (a VPX model) for Outpost's
// tests and benchmarks, built from Debian's golang-github-vmware-govmomi-dev
// in GOPATH mode (see build.sh). It serves the vSphere Web Services API over
// HTTPS on loopback and prints one line once it is ready:
//
//	outpost-vcsim url=https://127.0.0.1:PORT/sdk control=http://127.0.0.1:PORT2
//
// Beyond the stock model, hosts behave like vCenter's when they enter
// maintenance mode: the task takes -enter-ms, powered-on VMs migrate to
// another host of the cluster when DRS is on, and the task fails with
// Timedout when DRS is off and powered-on VMs are still there. A small
// control API on loopback lets a test act as the outside world:
//
//	POST /disconnect?host=NAME   the host drops out of vCenter (rebooting)
//	POST /connect?host=NAME      the host answers again
//	POST /expire-sessions        every API session ends (as on idle expiry)
//	GET  /hosts                  name, cluster, connection and maintenance state
//	GET  /inventory              clusters, hosts, VMs, datastores and networks
//	                             as the model holds them (the oracle of the
//	                             vcenter.inventory tests)
//
// The program ends when its standard input closes or on SIGTERM.
package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

var enterDelay time.Duration
var mu sync.Mutex

// Host wraps the simulator's HostSystem to give maintenance mode vCenter's
// behaviour. It embeds the HostSystem by value: the simulator's property
// collector finds the managed object by digging through first fields.
// (Simulator methods that assert a *simulator.HostSystem, such as VM power
// operations, are not used against this model.)
type Host struct {
	simulator.HostSystem
}

func clusterOf(h *simulator.HostSystem) *simulator.ClusterComputeResource {
	if h.Parent == nil || h.Parent.Type != "ClusterComputeResource" {
		return nil
	}
	c, _ := simulator.Map.Get(*h.Parent).(*simulator.ClusterComputeResource)
	return c
}

func drsOn(c *simulator.ClusterComputeResource) bool {
	if c == nil {
		return false
	}
	cfg, ok := c.ConfigurationEx.(*types.ClusterConfigInfoEx)
	return ok && cfg.DrsConfig.Enabled != nil && *cfg.DrsConfig.Enabled
}

func poweredOnVms(h *simulator.HostSystem) []types.ManagedObjectReference {
	var on []types.ManagedObjectReference
	for _, ref := range h.Vm {
		if vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine); ok &&
			vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn {
			on = append(on, ref)
		}
	}
	return on
}

// evacuate moves powered-on VMs to another connected host of the cluster
// that is not in maintenance mode; false when there is none.
func evacuate(h *simulator.HostSystem, c *simulator.ClusterComputeResource) bool {
	vms := poweredOnVms(h)
	if len(vms) == 0 {
		return true
	}
	var target *simulator.HostSystem
	for _, ref := range c.Host {
		o, ok := simulator.Map.Get(ref).(*Host)
		if !ok || o.Self == h.Self || o.Runtime.InMaintenanceMode ||
			o.Runtime.ConnectionState != types.HostSystemConnectionStateConnected {
			continue
		}
		target = &o.HostSystem
		break
	}
	if target == nil {
		return false
	}
	moved := map[types.ManagedObjectReference]bool{}
	for _, ref := range vms {
		vm := simulator.Map.Get(ref).(*simulator.VirtualMachine)
		simulator.Map.Update(vm, []types.PropertyChange{{Name: "runtime.host", Val: target.Self}})
		moved[ref] = true
	}
	var keep []types.ManagedObjectReference
	for _, ref := range h.Vm {
		if !moved[ref] {
			keep = append(keep, ref)
		}
	}
	simulator.Map.Update(h, []types.PropertyChange{{Name: "vm", Val: keep}})
	simulator.Map.Update(target, []types.PropertyChange{{Name: "vm", Val: append(append([]types.ManagedObjectReference{}, target.Vm...), vms...)}})
	return true
}

func (h *Host) EnterMaintenanceModeTask(req *types.EnterMaintenanceMode_Task) soap.HasFault {
	task := simulator.CreateTask(h, "enterMaintenanceMode", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		if enterDelay > 0 {
			time.Sleep(enterDelay)
		}
		mu.Lock()
		defer mu.Unlock()
		if h.Runtime.ConnectionState != types.HostSystemConnectionStateConnected {
			return nil, &types.InvalidState{}
		}
		if h.Runtime.InMaintenanceMode {
			return nil, nil
		}
		c := clusterOf(&h.HostSystem)
		if len(poweredOnVms(&h.HostSystem)) > 0 && (!drsOn(c) || !evacuate(&h.HostSystem, c)) {
			// vCenter waits for the VMs to go; with nobody moving them the
			// request runs into its timeout.
			return nil, &types.Timedout{}
		}
		simulator.Map.Update(h, []types.PropertyChange{{Name: "runtime.inMaintenanceMode", Val: true}})
		return nil, nil
	})
	go task.Run()
	return &methods.EnterMaintenanceMode_TaskBody{
		Res: &types.EnterMaintenanceMode_TaskResponse{Returnval: task.Self},
	}
}

func (h *Host) ExitMaintenanceModeTask(req *types.ExitMaintenanceMode_Task) soap.HasFault {
	task := simulator.CreateTask(h, "exitMaintenanceMode", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		mu.Lock()
		defer mu.Unlock()
		if h.Runtime.ConnectionState != types.HostSystemConnectionStateConnected {
			return nil, &types.InvalidState{}
		}
		simulator.Map.Update(h, []types.PropertyChange{{Name: "runtime.inMaintenanceMode", Val: false}})
		return nil, nil
	})
	go task.Run()
	return &methods.ExitMaintenanceMode_TaskBody{
		Res: &types.ExitMaintenanceMode_TaskResponse{Returnval: task.Self},
	}
}

func hosts() []*Host {
	var out []*Host
	for _, o := range simulator.Map.All("HostSystem") {
		if h, ok := o.(*Host); ok {
			out = append(out, h)
		}
	}
	return out
}

func findHost(name string) *Host {
	for _, h := range hosts() {
		if h.Name == name {
			return h
		}
	}
	return nil
}

type hostState struct {
	Name          string `json:"name"`
	Moid          string `json:"moid"`
	Cluster       string `json:"cluster"`
	Connection    string `json:"connection_state"`
	InMaintenance bool   `json:"in_maintenance"`
	PoweredOnVms  int    `json:"powered_on_vms"`
}

type invCluster struct {
	Moid        string `json:"moid"`
	Name        string `json:"name"`
	Hosts       int    `json:"hosts"`
	Drs         bool   `json:"drs_enabled"`
	TotalCpu    int32  `json:"total_cpu_mhz"`
	TotalMemory int64  `json:"total_memory_bytes"`
}

type invHost struct {
	Moid       string `json:"moid"`
	Name       string `json:"name"`
	Cluster    string `json:"cluster"`
	Connection string `json:"connection_state"`
	Power      string `json:"power_state"`
	Version    string `json:"esxi_version"`
	Build      string `json:"esxi_build"`
	Vendor     string `json:"vendor"`
	Model      string `json:"model"`
	Uuid       string `json:"uuid"`
	ServiceTag string `json:"service_tag"`
	Cores      int16  `json:"cpu_cores"`
	Memory     int64  `json:"memory_bytes"`
}

type invVM struct {
	Moid     string `json:"moid"`
	Name     string `json:"name"`
	Host     string `json:"host"`
	Power    string `json:"power_state"`
	Guest    string `json:"guest_os"`
	Cpus     int32  `json:"cpu_count"`
	MemoryMB int32  `json:"memory_mb"`
	Uuid     string `json:"uuid"`
	Template bool   `json:"is_template"`
}

type invDatastore struct {
	Moid     string   `json:"moid"`
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	Capacity int64    `json:"capacity_bytes"`
	Free     int64    `json:"free_bytes"`
	Hosts    []string `json:"hosts"`
}

type invNetwork struct {
	Moid string `json:"moid"`
	Name string `json:"name"`
	Type string `json:"type"`
}

type invAll struct {
	Clusters   []invCluster   `json:"clusters"`
	Hosts      []invHost      `json:"hosts"`
	Vms        []invVM        `json:"vms"`
	Datastores []invDatastore `json:"datastores"`
	Networks   []invNetwork   `json:"networks"`
}

// inventory reads the model's objects directly, not through the API.
func inventory() invAll {
	var inv invAll
	for _, o := range simulator.Map.All("ClusterComputeResource") {
		c := o.(*simulator.ClusterComputeResource)
		s := c.Summary.GetComputeResourceSummary()
		inv.Clusters = append(inv.Clusters, invCluster{
			Moid: c.Self.Value, Name: c.Name, Hosts: len(c.Host), Drs: drsOn(c),
			TotalCpu: s.TotalCpu, TotalMemory: s.TotalMemory,
		})
	}
	for _, h := range hosts() {
		s := invHost{
			Moid: h.Self.Value, Name: h.Name,
			Connection: string(h.Runtime.ConnectionState), Power: string(h.Runtime.PowerState),
		}
		if c := clusterOf(&h.HostSystem); c != nil {
			s.Cluster = c.Name
		}
		if h.Config != nil {
			s.Version, s.Build = h.Config.Product.Version, h.Config.Product.Build
		}
		if hw := h.Summary.Hardware; hw != nil {
			s.Vendor, s.Model, s.Uuid = hw.Vendor, hw.Model, hw.Uuid
			s.Cores, s.Memory = hw.NumCpuCores, hw.MemorySize
		}
		if h.Hardware != nil {
			for _, i := range h.Hardware.SystemInfo.OtherIdentifyingInfo {
				if i.IdentifierType != nil && i.IdentifierType.GetElementDescription().Key == "ServiceTag" {
					s.ServiceTag = i.IdentifierValue
				}
			}
		}
		inv.Hosts = append(inv.Hosts, s)
	}
	for _, o := range simulator.Map.All("VirtualMachine") {
		vm := o.(*simulator.VirtualMachine)
		s := invVM{
			Moid: vm.Self.Value, Name: vm.Name, Power: string(vm.Runtime.PowerState),
			Guest: vm.Summary.Config.GuestFullName, Cpus: vm.Summary.Config.NumCpu,
			MemoryMB: vm.Summary.Config.MemorySizeMB, Uuid: vm.Summary.Config.Uuid,
			Template: vm.Summary.Config.Template,
		}
		if vm.Runtime.Host != nil {
			s.Host = vm.Runtime.Host.Value
		}
		inv.Vms = append(inv.Vms, s)
	}
	for _, o := range simulator.Map.All("Datastore") {
		ds := o.(*simulator.Datastore)
		s := invDatastore{
			Moid: ds.Self.Value, Name: ds.Name, Type: ds.Summary.Type,
			Capacity: ds.Summary.Capacity, Free: ds.Summary.FreeSpace, Hosts: []string{},
		}
		for _, m := range ds.Host {
			s.Hosts = append(s.Hosts, m.Key.Value)
		}
		inv.Datastores = append(inv.Datastores, s)
	}
	for _, kind := range []string{"Network", "DistributedVirtualPortgroup", "OpaqueNetwork"} {
		for _, o := range simulator.Map.All(kind) {
			ref := o.Reference()
			inv.Networks = append(inv.Networks, invNetwork{Moid: ref.Value, Name: o.Entity().Name, Type: ref.Type})
		}
	}
	return inv
}

func control(addr string, sdk *url.URL) (string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	mux := http.NewServeMux()
	setConn := func(state types.HostSystemConnectionState) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost {
				http.Error(w, "POST only", http.StatusMethodNotAllowed)
				return
			}
			h := findHost(r.URL.Query().Get("host"))
			if h == nil {
				http.Error(w, "no such host", http.StatusNotFound)
				return
			}
			mu.Lock()
			simulator.Map.WithLock(h, func() {
				simulator.Map.Update(h, []types.PropertyChange{{Name: "runtime.connectionState", Val: state}})
			})
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}
	}
	mux.HandleFunc("/disconnect", setConn(types.HostSystemConnectionStateDisconnected))
	mux.HandleFunc("/connect", setConn(types.HostSystemConnectionStateConnected))
	mux.HandleFunc("/hosts", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		var out []hostState
		for _, h := range hosts() {
			s := hostState{
				Name:          h.Name,
				Moid:          h.Self.Value,
				Connection:    string(h.Runtime.ConnectionState),
				InMaintenance: h.Runtime.InMaintenanceMode,
				PoweredOnVms:  len(poweredOnVms(&h.HostSystem)),
			}
			if c := clusterOf(&h.HostSystem); c != nil {
				s.Cluster = c.Name
			}
			out = append(out, s)
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("/inventory", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inv := inventory()
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(inv)
	})
	mux.HandleFunc("/expire-sessions", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		n, err := expireSessions(r.Context(), sdk)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%d\n", n)
	})
	go func() { _ = http.Serve(l, mux) }()
	return "http://" + l.Addr().String(), nil
}

// expireSessions ends every API session but its own, through the API.
func expireSessions(ctx context.Context, sdk *url.URL) (int, error) {
	c, err := govmomi.NewClient(ctx, sdk, true)
	if err != nil {
		return 0, err
	}
	defer func() { _ = c.Logout(context.Background()) }()
	var sm mo.SessionManager
	pc := property.DefaultCollector(c.Client)
	if err := pc.RetrieveOne(ctx, *c.ServiceContent.SessionManager, []string{"sessionList", "currentSession"}, &sm); err != nil {
		return 0, err
	}
	var ids []string
	for _, s := range sm.SessionList {
		if sm.CurrentSession == nil || s.Key != sm.CurrentSession.Key {
			ids = append(ids, s.Key)
		}
	}
	if len(ids) == 0 {
		return 0, nil
	}
	return len(ids), session.NewManager(c.Client).TerminateSession(ctx, ids)
}

// selfSigned makes a fresh P-256 certificate for 127.0.0.1 and localhost,
// as a vCenter's own VMCA-issued one would be to a client: untrusted, to be
// pinned. With weak, the key is 1024-bit RSA instead, as the certificate
// of govmomi's own simulator (httptest's) and of old appliances.
func selfSigned(weak bool) (tls.Certificate, error) {
	var key crypto.Signer
	var err error
	if weak {
		key, err = rsa.GenerateKey(rand.Reader, 1024)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "outpost-vcsim", Organization: []string{"VMware"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address of the vSphere API (HTTPS)")
	ctl := flag.String("control", "127.0.0.1:0", "address of the control API (HTTP)")
	clusters := flag.Int("clusters", 2, "clusters in the datacenter")
	perCluster := flag.Int("hosts", 4, "hosts per cluster")
	standalone := flag.Int("standalone", 0, "standalone hosts")
	vms := flag.Int("vms", 0, "powered-on VMs per cluster")
	user := flag.String("username", "administrator@vsphere.local", "the one valid user name")
	pass := flag.String("password", "", "its password (required)")
	names := flag.String("names", "", "comma-separated new names for the cluster hosts, cluster by cluster")
	serviceTags := flag.String("service-tags", "", "comma-separated service tags of the cluster hosts, cluster by cluster (default SIM0001, SIM0002, ...)")
	drsOff := flag.String("drs-off", "", "comma-separated cluster names with DRS turned off")
	enterMs := flag.Int("enter-ms", 0, "how long entering maintenance mode takes")
	delays := flag.String("method-delay", "", "comma-separated Method=ms delays of SOAP methods")
	weakKey := flag.Bool("weak-key", false, "serve a 1024-bit RSA certificate instead of a P-256 one")
	verbose := flag.Bool("verbose", false, "keep the simulator's own log (every property change)")
	flag.Parse()
	if !*verbose {
		log.SetOutput(io.Discard)
	}
	if *pass == "" {
		fmt.Fprintln(os.Stderr, "outpost-vcsim: -password is required")
		os.Exit(2)
	}
	enterDelay = time.Duration(*enterMs) * time.Millisecond

	model := simulator.VPX()
	model.Datacenter = 1
	model.Cluster = *clusters
	model.ClusterHost = *perCluster
	model.Host = *standalone
	model.Machine = *vms
	model.Autostart = true
	model.Portgroup = 0
	if *delays != "" {
		model.DelayConfig.MethodDelay = map[string]int{}
		for _, d := range strings.Split(*delays, ",") {
			var ms int
			kv := strings.SplitN(d, "=", 2)
			if len(kv) != 2 {
				fmt.Fprintf(os.Stderr, "outpost-vcsim: bad -method-delay entry %q\n", d)
				os.Exit(2)
			}
			if _, err := fmt.Sscanf(kv[1], "%d", &ms); err != nil {
				fmt.Fprintf(os.Stderr, "outpost-vcsim: bad delay in %q\n", d)
				os.Exit(2)
			}
			model.DelayConfig.MethodDelay[kv[0]] = ms
		}
	}
	if err := model.Create(); err != nil {
		fmt.Fprintln(os.Stderr, "outpost-vcsim:", err)
		os.Exit(1)
	}
	defer model.Remove()

	// Cluster hosts in a stable order: by cluster name, then host name.
	var cls []*simulator.ClusterComputeResource
	for _, o := range simulator.Map.All("ClusterComputeResource") {
		cls = append(cls, o.(*simulator.ClusterComputeResource))
	}
	sort.Slice(cls, func(i, j int) bool { return cls[i].Name < cls[j].Name })
	var list []*simulator.HostSystem
	for _, c := range cls {
		var in []*simulator.HostSystem
		for _, ref := range c.Host {
			in = append(in, simulator.Map.Get(ref).(*simulator.HostSystem))
		}
		sort.Slice(in, func(i, j int) bool { return in[i].Name < in[j].Name })
		list = append(list, in...)
	}
	var wanted []string
	if *names != "" {
		wanted = strings.Split(*names, ",")
		if len(wanted) > len(list) {
			fmt.Fprintf(os.Stderr, "outpost-vcsim: %d names for %d cluster hosts\n", len(wanted), len(list))
			os.Exit(2)
		}
	}
	var tags []string
	if *serviceTags != "" {
		tags = strings.Split(*serviceTags, ",")
	}
	for i, h := range list {
		if i < len(wanted) {
			simulator.Map.Update(h, []types.PropertyChange{{Name: "name", Val: wanted[i]}})
		}
		// Every real host has a serial number of its own (a Dell's is its
		// service tag); the model's template gives them all one.
		tag := fmt.Sprintf("SIM%04d", i+1)
		if i < len(tags) && tags[i] != "" {
			tag = tags[i]
		}
		if h.Hardware != nil {
			hw := *h.Hardware
			hw.SystemInfo.SerialNumber = tag
			hw.SystemInfo.OtherIdentifyingInfo = []types.HostSystemIdentificationInfo{{
				IdentifierValue: tag,
				IdentifierType: &types.ElementDescription{
					Description: types.Description{Label: "Service tag", Summary: "Service tag"},
					Key:         "ServiceTag",
				},
			}}
			h.Hardware = &hw
		}
	}
	// The model's datastore backs every host's VMs (one folder on disk):
	// present it as the shared datastore it is, mounted on every host, so
	// its VMs can migrate.
	var mounts []types.DatastoreHostMount
	for _, o := range simulator.Map.All("HostSystem") {
		mounts = append(mounts, types.DatastoreHostMount{
			Key: o.Reference(),
			MountInfo: types.HostMountInfo{
				AccessMode: string(types.HostMountModeReadWrite),
				Mounted:    types.NewBool(true),
				Accessible: types.NewBool(true),
			},
		})
	}
	for _, o := range simulator.Map.All("Datastore") {
		ds := o.(*simulator.Datastore)
		ds.Summary.MultipleHostAccess = types.NewBool(true)
		ds.Host = mounts
	}
	for _, o := range simulator.Map.All("HostSystem") {
		simulator.Map.Put(&Host{*o.(*simulator.HostSystem)})
	}
	for _, name := range strings.Split(*drsOff, ",") {
		if name == "" {
			continue
		}
		found := false
		for _, o := range simulator.Map.All("ClusterComputeResource") {
			c := o.(*simulator.ClusterComputeResource)
			if c.Name == name {
				c.ConfigurationEx.(*types.ClusterConfigInfoEx).DrsConfig.Enabled = types.NewBool(false)
				found = true
			}
		}
		if !found {
			fmt.Fprintf(os.Stderr, "outpost-vcsim: no cluster %q\n", name)
			os.Exit(2)
		}
	}

	model.Service.Listen = &url.URL{Host: *listen, User: url.UserPassword(*user, *pass)}
	cert, err := selfSigned(*weakKey)
	if err != nil {
		fmt.Fprintln(os.Stderr, "outpost-vcsim: certificate:", err)
		os.Exit(1)
	}
	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	server := model.Service.NewServer()
	defer server.Close()
	sdk := *server.URL
	sdk.User = url.UserPassword(*user, *pass)
	ctlURL, err := control(*ctl, &sdk)
	if err != nil {
		fmt.Fprintln(os.Stderr, "outpost-vcsim: control:", err)
		os.Exit(1)
	}
	public := *server.URL
	public.User = nil
	fmt.Printf("outpost-vcsim url=%s control=%s\n", public.String(), ctlURL)
	os.Stdout.Sync()

	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(done)
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-done:
	case <-sig:
	}
}
