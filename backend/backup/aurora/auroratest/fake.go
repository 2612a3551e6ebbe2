// Package auroratest is an in-process RDS API for tests: it speaks the RDS
// Query API (form-encoded Action=…&Version=2014-10-31 requests signed with
// SigV4 for the service rds, XML responses and ErrorResponse documents) for
// the actions a point-in-time restore uses.
package auroratest

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is the fake RDS API, an http.Handler, over clusters and instances
// it keeps in memory: DescribeDBClusters, RestoreDBClusterToPointInTime,
// CreateDBInstance and DescribeDBInstances. A created cluster or instance
// reports "creating" for its first Polls describes, then Final (a cluster;
// instances become "available"). Requests must be signed for AccessKey in
// Region.
type Server struct {
	Region    string
	AccessKey string

	mu        sync.Mutex
	clusters  map[string]*Cluster
	instances map[string]*instance
	calls     []url.Values
	polls     int
	final     string
}

// Cluster is a cluster the fake holds; set the exported fields for a
// source cluster with AddCluster.
type Cluster struct {
	ID, Status, Engine, SubnetGroup, ParameterGroup, KMSKeyID string
	// Earliest and Latest are the restorable window (zero: none).
	Earliest, Latest time.Time
	SecurityGroups   []string
	Tags             [][2]string
	MinACU, MaxACU   float64
	pending          int
}

type instance struct {
	id, cluster, class, engine, status string
	pending                            int
}

// New is an empty fake for region eu-central-1 and the access key AKIDTEST,
// whose new clusters and instances become available on the third describe.
func New() *Server {
	return &Server{Region: "eu-central-1", AccessKey: "AKIDTEST", clusters: map[string]*Cluster{}, instances: map[string]*instance{}, polls: 2, final: "available"}
}

// AddCluster adds (or replaces) a cluster.
func (f *Server) AddCluster(c Cluster) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clusters[c.ID] = &c
}

// Cluster is a copy of the cluster id, and false when there is none.
func (f *Server) Cluster(id string) (Cluster, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.clusters[id]
	if !ok {
		return Cluster{}, false
	}
	return *c, true
}

// SetProgress sets how many describes a new cluster or instance stays
// "creating" and the status a new cluster ends in.
func (f *Server) SetProgress(polls int, final string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.polls, f.final = polls, final
}

// Actions lists the actions called, in order.
func (f *Server) Actions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		out = append(out, c.Get("Action"))
	}
	return out
}

// Call is the form of the first request of the action, or nil.
func (f *Server) Call(action string) url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		if c.Get("Action") == action {
			return c
		}
	}
	return nil
}

func (f *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, msg string) {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>req-1</RequestId></ErrorResponse>`,
			esc(code), esc(msg))
	}
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		fail(400, "InvalidAction", "want a form-encoded POST")
		return
	}
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+f.AccessKey+"/") || !strings.Contains(auth, "/"+f.Region+"/rds/aws4_request") ||
		!strings.Contains(auth, "SignedHeaders=") || !strings.Contains(auth, "Signature=") || r.Header.Get("X-Amz-Date") == "" {
		fail(403, "IncompleteSignature", "the request is not signed with SigV4 for rds in "+f.Region+": "+auth)
		return
	}
	body, _ := io.ReadAll(r.Body)
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("Version") != "2014-10-31" {
		fail(400, "InvalidParameterValue", "want Version=2014-10-31")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, form)
	action := form.Get("Action")
	var result string
	switch action {
	case "DescribeDBClusters":
		id := form.Get("DBClusterIdentifier")
		c := f.clusters[id]
		if c == nil {
			fail(404, "DBClusterNotFoundFault", "DBCluster "+id+" not found.")
			return
		}
		if c.Status == "creating" {
			if c.pending--; c.pending < 0 {
				c.Status = f.final
			}
		}
		result = "<DBClusters>" + c.xml() + "</DBClusters>"
	case "RestoreDBClusterToPointInTime":
		src := f.clusters[form.Get("SourceDBClusterIdentifier")]
		if src == nil {
			fail(404, "DBClusterNotFoundFault", "DBCluster "+form.Get("SourceDBClusterIdentifier")+" not found.")
			return
		}
		id := form.Get("DBClusterIdentifier")
		if f.clusters[id] != nil {
			fail(400, "DBClusterAlreadyExistsFault", "DB Cluster already exists")
			return
		}
		latest := form.Get("UseLatestRestorableTime") == "true"
		to, terr := time.Parse(time.RFC3339, form.Get("RestoreToTime"))
		switch {
		case latest == (form.Get("RestoreToTime") != ""):
			fail(400, "InvalidParameterCombination", "give exactly one of RestoreToTime and UseLatestRestorableTime")
			return
		case !latest && (terr != nil || to.Before(src.Earliest) || to.After(src.Latest)):
			fail(400, "InvalidRestoreFault", "The requested point in time is outside the restorable window")
			return
		case form.Get("RestoreType") != "full-copy":
			fail(400, "InvalidParameterValue", "want RestoreType full-copy")
			return
		}
		c := &Cluster{ID: id, Status: "creating", Engine: src.Engine, SubnetGroup: form.Get("DBSubnetGroupName"), ParameterGroup: form.Get("DBClusterParameterGroupName"),
			KMSKeyID: form.Get("KmsKeyId"), pending: f.polls}
		if c.KMSKeyID == "" {
			c.KMSKeyID = src.KMSKeyID
		}
		for i := 1; form.Has("VpcSecurityGroupIds.VpcSecurityGroupId." + strconv.Itoa(i)); i++ {
			c.SecurityGroups = append(c.SecurityGroups, form.Get("VpcSecurityGroupIds.VpcSecurityGroupId."+strconv.Itoa(i)))
		}
		for i := 1; form.Has("Tags.Tag." + strconv.Itoa(i) + ".Key"); i++ {
			p := "Tags.Tag." + strconv.Itoa(i)
			c.Tags = append(c.Tags, [2]string{form.Get(p + ".Key"), form.Get(p + ".Value")})
		}
		c.MinACU, _ = strconv.ParseFloat(form.Get("ServerlessV2ScalingConfiguration.MinCapacity"), 64)
		c.MaxACU, _ = strconv.ParseFloat(form.Get("ServerlessV2ScalingConfiguration.MaxCapacity"), 64)
		f.clusters[id] = c
		result = c.xml()
	case "CreateDBInstance":
		id, cid := form.Get("DBInstanceIdentifier"), form.Get("DBClusterIdentifier")
		c := f.clusters[cid]
		switch {
		case c == nil:
			fail(404, "DBClusterNotFoundFault", "DBCluster "+cid+" not found.")
			return
		case f.instances[id] != nil:
			fail(400, "DBInstanceAlreadyExists", "DB instance already exists")
			return
		case form.Get("Engine") != c.Engine:
			fail(400, "InvalidParameterCombination", "the instance's engine must be its cluster's")
			return
		}
		in := &instance{id: id, cluster: cid, class: form.Get("DBInstanceClass"), engine: c.Engine, status: "creating", pending: f.polls}
		f.instances[id] = in
		result = in.xml()
	case "DescribeDBInstances":
		id := form.Get("DBInstanceIdentifier")
		in := f.instances[id]
		if in == nil {
			fail(404, "DBInstanceNotFound", "DBInstance "+id+" not found.")
			return
		}
		if in.status == "creating" {
			if in.pending--; in.pending < 0 {
				in.status = "available"
			}
		}
		result = "<DBInstances>" + in.xml() + "</DBInstances>"
	default:
		fail(400, "InvalidAction", "unknown action "+action)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<%sResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><%sResult>%s</%sResult><ResponseMetadata><RequestId>req-2</RequestId></ResponseMetadata></%sResponse>`,
		action, action, result, action, action)
}

func (c *Cluster) xml() string {
	var b strings.Builder
	fmt.Fprintf(&b, "<DBCluster><DBClusterIdentifier>%s</DBClusterIdentifier><Status>%s</Status><Engine>%s</Engine><EngineVersion>15.4</EngineVersion>",
		esc(c.ID), esc(c.Status), esc(c.Engine))
	fmt.Fprintf(&b, "<Endpoint>%s.cluster-abc.eu-central-1.rds.amazonaws.com</Endpoint><ReaderEndpoint>%s.cluster-ro-abc.eu-central-1.rds.amazonaws.com</ReaderEndpoint><Port>5432</Port>",
		esc(c.ID), esc(c.ID))
	if !c.Earliest.IsZero() {
		fmt.Fprintf(&b, "<EarliestRestorableTime>%s</EarliestRestorableTime><LatestRestorableTime>%s</LatestRestorableTime>",
			c.Earliest.UTC().Format("2006-01-02T15:04:05.000Z"), c.Latest.UTC().Format("2006-01-02T15:04:05.000Z"))
	}
	fmt.Fprintf(&b, "<DBSubnetGroup>%s</DBSubnetGroup><DBClusterParameterGroup>%s</DBClusterParameterGroup><StorageEncrypted>true</StorageEncrypted><KmsKeyId>%s</KmsKeyId>",
		esc(c.SubnetGroup), esc(c.ParameterGroup), esc(c.KMSKeyID))
	b.WriteString("<VpcSecurityGroups>")
	for _, g := range c.SecurityGroups {
		fmt.Fprintf(&b, "<VpcSecurityGroupMembership><Status>active</Status><VpcSecurityGroupId>%s</VpcSecurityGroupId></VpcSecurityGroupMembership>", esc(g))
	}
	b.WriteString("</VpcSecurityGroups><TagList>")
	for _, t := range c.Tags {
		fmt.Fprintf(&b, "<Tag><Key>%s</Key><Value>%s</Value></Tag>", esc(t[0]), esc(t[1]))
	}
	b.WriteString("</TagList>")
	if c.MaxACU > 0 {
		fmt.Fprintf(&b, "<ServerlessV2ScalingConfiguration><MinCapacity>%g</MinCapacity><MaxCapacity>%g</MaxCapacity></ServerlessV2ScalingConfiguration>", c.MinACU, c.MaxACU)
	}
	b.WriteString("</DBCluster>")
	return b.String()
}

func (in *instance) xml() string {
	return fmt.Sprintf("<DBInstance><DBInstanceIdentifier>%s</DBInstanceIdentifier><DBClusterIdentifier>%s</DBClusterIdentifier><DBInstanceClass>%s</DBInstanceClass>"+
		"<Engine>%s</Engine><DBInstanceStatus>%s</DBInstanceStatus><PubliclyAccessible>false</PubliclyAccessible></DBInstance>",
		esc(in.id), esc(in.cluster), esc(in.class), esc(in.engine), esc(in.status))
}

func esc(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
