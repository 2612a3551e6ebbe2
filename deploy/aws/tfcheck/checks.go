package tfcheck

import (
	"bytes"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// Check is one rule of the deployment.
type Check struct {
	Name string
	Run  func(*Config) []Finding
}

// Checks are every rule, each by its name.
var Checks = []Check{
	{"formatting", checkFormatting},
	{"module-versions", checkModuleVersions},
	{"variables", checkVariables},
	{"outputs", checkOutputs},
	{"kms-rotation", checkKMS},
	{"database", checkDatabase},
	{"buckets", checkBuckets},
	{"public-ingress", checkPublicIngress},
	{"private-ingress", checkPrivateIngress},
	{"load-balancer", checkLoadBalancer},
	{"waf", checkWAF},
	{"cloudtrail", checkCloudTrail},
	{"task-role", checkTaskRole},
	{"service", checkService},
	{"network", checkNetwork},
}

// Run runs every check.
func Run(c *Config) []Finding {
	var out []Finding
	for _, ch := range Checks {
		out = append(out, ch.Run(c)...)
	}
	return out
}

const (
	albModule     = "terraform-aws-modules/alb/aws"
	auroraModule  = "terraform-aws-modules/rds-aurora/aws"
	bucketModule  = "terraform-aws-modules/s3-bucket/aws"
	ecsModule     = "terraform-aws-modules/ecs/aws"
	kmsModule     = "terraform-aws-modules/kms/aws"
	vpcModule     = "terraform-aws-modules/vpc/aws"
	serviceSubmod = "modules/service"
)

// checkFormatting compares each file with its canonical form, as
// `terraform fmt` writes it.
func checkFormatting(c *Config) []Finding {
	f := &findings{check: "formatting"}
	for _, file := range c.Files {
		if !bytes.Equal(hclwrite.Format(file.Src), file.Src) {
			f.add(hcl.Range{Filename: file.Name, Start: hcl.InitialPos}, "not in canonical form: run terraform fmt")
		}
	}
	return f.list
}

var (
	registrySource = regexp.MustCompile(`^([a-z0-9.-]+/)?[A-Za-z0-9_-]+/[A-Za-z0-9_-]+/[a-z0-9]+(//.*)?$`)
	exactVersion   = regexp.MustCompile(`^=?\s*v?\d+\.\d+\.\d+$`)
)

// checkModuleVersions: every module from the registry is pinned to one
// exact version; nothing comes from elsewhere unpinned.
func checkModuleVersions(c *Config) []Finding {
	f := &findings{check: "module-versions"}
	for _, m := range c.Modules {
		src := Source(m)
		switch {
		case strings.HasPrefix(src, "./") || strings.HasPrefix(src, "../"):
		case registrySource.MatchString(src):
			v, ok := c.String(Attr(m.Body, "version"))
			if !ok || !exactVersion.MatchString(v) {
				f.add(m.Range(), "%s: registry module %s needs an exact version such as \"1.2.3\", not %q", name(m), src, v)
			}
		default:
			if !strings.Contains(src, "?ref=") {
				f.add(m.Range(), "%s: source %q is neither the registry nor pinned with ?ref=", name(m), src)
			}
		}
	}
	return f.list
}

// checkVariables: every variable has a type and a description.
func checkVariables(c *Config) []Finding {
	f := &findings{check: "variables"}
	for _, name := range sortedKeys(c.Variables) {
		b := c.Variables[name]
		if Attr(b.Body, "type") == nil {
			f.add(b.Range(), "variable %s has no type", name)
		}
		if d, _ := c.String(Attr(b.Body, "description")); strings.TrimSpace(d) == "" {
			f.add(b.Range(), "variable %s has no description", name)
		}
	}
	return f.list
}

var secretWord = regexp.MustCompile(`(?i)password|secret|private_key|token|credential`)

// checkOutputs: no output is sensitive or built from anything whose name
// says it is a password, secret, key material or token.
func checkOutputs(c *Config) []Finding {
	f := &findings{check: "outputs"}
	for _, o := range c.Outputs {
		n := label(o, 0)
		if v, ok := c.Bool(Attr(o.Body, "sensitive")); ok && v {
			f.add(o.Range(), "output %s is sensitive; outputs carry no secrets", n)
		}
		if secretWord.MatchString(n) {
			f.add(o.Range(), "output %s is named like a secret", n)
		}
		for _, r := range c.derivedFrom(Attr(o.Body, "value"), map[string]bool{}) {
			f.add(o.Range(), "output %s is derived from %s", n, r)
		}
	}
	return f.list
}

// derivedFrom lists the secret-looking names expr refers to, following
// locals. Only the attribute names matter for modules and resources (a
// module called kms_secrets holds no secret in its key_arn).
func (c *Config) derivedFrom(expr hclsyntax.Expression, seen map[string]bool) []string {
	var out []string
	for _, r := range Refs(expr) {
		parts := strings.Split(r, ".")
		var look []string
		switch parts[0] {
		case "local":
			if len(parts) > 1 {
				look = parts[1:2]
				if a, ok := c.Locals[parts[1]]; ok && !seen[parts[1]] {
					seen[parts[1]] = true
					out = append(out, c.derivedFrom(a.Expr, seen)...)
				}
			}
		case "var":
			if len(parts) > 1 {
				look = parts[1:2]
				if b, ok := c.Variables[parts[1]]; ok {
					if s, ok := c.Bool(Attr(b.Body, "sensitive")); ok && s {
						out = append(out, r+" (a sensitive variable)")
					}
				}
			}
		case "module", "data":
			if len(parts) > 2 {
				look = parts[2:]
			}
			if parts[0] == "data" && len(parts) > 3 {
				look = parts[3:]
			}
		default:
			if len(parts) > 2 {
				look = parts[2:]
			}
		}
		for _, p := range look {
			if secretWord.MatchString(p) {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// checkKMS: every customer-managed key rotates and has a deletion window.
func checkKMS(c *Config) []Finding {
	f := &findings{check: "kms-rotation"}
	keys := append(c.ModulesFrom(kmsModule, ""), c.ResourcesOf("aws_kms_key")...)
	if len(keys) == 0 {
		f.add(hcl.Range{Filename: "kms"}, "no KMS key is defined")
	}
	for _, k := range keys {
		if v, ok := c.Bool(Attr(k.Body, "enable_key_rotation")); !ok || !v {
			f.add(k.Range(), "%s: enable_key_rotation must be true", name(k))
		}
		if d, ok := c.Number(Attr(k.Body, "deletion_window_in_days")); !ok || d < 7 || d > 30 {
			f.add(k.Range(), "%s: deletion_window_in_days must be set (7 to 30)", name(k))
		}
	}
	return f.list
}

// isKMSRef reports whether expr refers to a customer-managed key of this
// configuration.
func (c *Config) isKMSRef(expr hclsyntax.Expression) bool {
	for _, m := range c.ModulesFrom(kmsModule, "") {
		if RefersTo(expr, "module."+label(m, 0)) {
			return true
		}
	}
	return RefersTo(expr, "aws_kms_key")
}

// kmsModuleOf is the key module or resource expr refers to.
func (c *Config) kmsModuleOf(expr hclsyntax.Expression) string {
	for _, r := range Refs(expr) {
		p := strings.Split(r, ".")
		if len(p) >= 2 && (p[0] == "module" && c.Module(p[1]) != nil && Source(c.Module(p[1])) == kmsModule || p[0] == "aws_kms_key") {
			return p[0] + "." + p[1]
		}
	}
	return ""
}

// checkDatabase: Aurora is encrypted with a customer key, protected from
// deletion, backed up 35 days, logs to CloudWatch, has a writer and a
// reader, keeps its password in Secrets Manager and its Performance
// Insights under a customer key.
func checkDatabase(c *Config) []Finding {
	f := &findings{check: "database"}
	dbs := c.ModulesFrom(auroraModule, "")
	if len(dbs) == 0 {
		f.add(hcl.Range{Filename: "database"}, "no Aurora cluster (%s) is defined", auroraModule)
	}
	for _, m := range dbs {
		b, n := m.Body, name(m)
		mustBool(c, f, m, "storage_encrypted", true)
		mustBool(c, f, m, "deletion_protection", true)
		mustBool(c, f, m, "manage_master_user_password", true)
		if v, ok := c.Bool(Attr(b, "skip_final_snapshot")); ok && v {
			f.add(m.Range(), "%s: skip_final_snapshot must not be true", n)
		}
		if !c.isKMSRef(Attr(b, "kms_key_id")) {
			f.add(m.Range(), "%s: kms_key_id must be a customer-managed key of this configuration", n)
		}
		if !c.isKMSRef(Attr(b, "master_user_secret_kms_key_id")) {
			f.add(m.Range(), "%s: master_user_secret_kms_key_id must be a customer-managed key", n)
		}
		for _, a := range []string{"master_password", "master_password_wo"} {
			if Attr(b, a) != nil {
				f.add(m.Range(), "%s: %s is set; the password is managed by RDS in Secrets Manager", n, a)
			}
		}
		if d, ok := c.Number(Attr(b, "backup_retention_period")); !ok || d != 35 {
			f.add(m.Range(), "%s: backup_retention_period must be 35", n)
		}
		if !slices.Contains(c.Strings(Attr(b, "enabled_cloudwatch_logs_exports")), "postgresql") {
			f.add(m.Range(), "%s: enabled_cloudwatch_logs_exports must include \"postgresql\"", n)
		}
		inst := Attr(b, "instances")
		count, ok := 0, false
		switch e := inst.(type) {
		case *hclsyntax.ObjectConsExpr:
			count, ok = len(e.Items), true
		case *hclsyntax.ForExpr:
			count, ok = c.Length(e.CollExpr)
		}
		if !ok || count < 2 {
			f.add(m.Range(), "%s: instances must hold a writer and at least one reader (found %d)", n, count)
		}
		clusterPI, _ := c.Bool(Attr(b, "cluster_performance_insights_enabled"))
		clusterPIKey := c.isKMSRef(Attr(b, "cluster_performance_insights_kms_key_id"))
		for _, e := range c.Entries(inst) {
			pi, _ := c.Bool(c.Item(e.Value, "performance_insights_enabled"))
			key := c.isKMSRef(c.Item(e.Value, "performance_insights_kms_key_id"))
			if !(pi || clusterPI) || !(key || clusterPIKey) {
				f.add(e.Value.Range(), "%s: instance %s needs Performance Insights encrypted with a customer-managed key", n, e.Key)
			}
		}
	}
	return f.list
}

func mustBool(c *Config, f *findings, b *hclsyntax.Block, attr string, want bool) {
	if v, ok := c.Bool(Attr(b.Body, attr)); !ok || v != want {
		f.add(b.Range(), "%s: %s must be %v", name(b), attr, want)
	}
}

// checkBuckets: every bucket blocks public access, keeps versions,
// refuses plain HTTP and is encrypted with a customer key (the load
// balancer's log bucket cannot be, so it uses SSE-S3); a data bucket's
// policy refuses puts with another encryption or key; the audit archive is
// locked in compliance mode for 6 years.
func checkBuckets(c *Config) []Finding {
	f := &findings{check: "buckets"}
	for _, r := range c.ResourcesOf("aws_s3_bucket") {
		f.add(r.Range(), "%s: make buckets with %s, whose settings are checked", name(r), bucketModule)
	}
	buckets := c.ModulesFrom(bucketModule, "")
	audit := 0
	for _, m := range buckets {
		b, n := m.Body, name(m)
		for _, a := range []string{"block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets", "attach_deny_insecure_transport_policy"} {
			mustBool(c, f, m, a, true)
		}
		ver := Attr(b, "versioning")
		if on, _ := c.Bool(c.Item(ver, "enabled")); !on {
			if s, _ := c.String(c.Item(ver, "status")); !strings.EqualFold(s, "enabled") {
				f.add(m.Range(), "%s: versioning must be enabled", n)
			}
		}
		logBucket := false
		for _, a := range []string{"attach_elb_log_delivery_policy", "attach_lb_log_delivery_policy"} {
			if v, _ := c.Bool(Attr(b, a)); v {
				logBucket = true
			}
		}
		rule := c.Path(Attr(b, "server_side_encryption_configuration"), "rule")
		sse := c.Item(rule, "apply_server_side_encryption_by_default")
		alg, _ := c.String(c.Item(sse, "sse_algorithm"))
		keyExpr := c.Item(sse, "kms_master_key_id")
		switch {
		case alg == "aws:kms" || alg == "aws:kms:dsse":
			if !c.isKMSRef(keyExpr) {
				f.add(m.Range(), "%s: SSE-KMS must use a customer-managed key of this configuration", n)
			}
			if v, _ := c.Bool(c.Item(rule, "bucket_key_enabled")); !v {
				f.add(m.Range(), "%s: bucket_key_enabled must be true", n)
			}
		case alg == "AES256" && logBucket:
			// Elastic Load Balancing writes access logs only with SSE-S3.
		default:
			f.add(m.Range(), "%s: default encryption must be SSE-KMS with a customer-managed key (found %q)", n, alg)
		}
		delivery := logBucket
		for _, a := range []string{"attach_cloudtrail_log_delivery_policy", "attach_access_log_delivery_policy", "attach_waf_log_delivery_policy"} {
			if v, _ := c.Bool(Attr(b, a)); v {
				delivery = true
			}
		}
		if !delivery {
			c.checkPutPolicy(f, m, c.kmsModuleOf(keyExpr))
		}
		lockOn, _ := c.Bool(Attr(b, "object_lock_enabled"))
		if strings.Contains(label(m, 0), "audit") || lockOn {
			audit++
			ret := c.Path(Attr(b, "object_lock_configuration"), "rule", "default_retention")
			mode, _ := c.String(c.Item(ret, "mode"))
			years, _ := c.Number(c.Item(ret, "years"))
			days, _ := c.Number(c.Item(ret, "days"))
			if !lockOn || mode != "COMPLIANCE" || (years < 6 && days < 2190) {
				f.add(m.Range(), "%s: the audit archive needs Object Lock in COMPLIANCE mode for 6 years (2190 days)", n)
			}
		}
	}
	if audit == 0 {
		f.add(hcl.Range{Filename: "buckets"}, "no audit archive bucket (a bucket module whose name holds \"audit\") is defined")
	}
	return f.list
}

// checkPutPolicy: the bucket's own policy denies a put that asks for
// another encryption or for another key than the bucket's.
func (c *Config) checkPutPolicy(f *findings, m *hclsyntax.Block, key string) {
	n := name(m)
	if v, _ := c.Bool(Attr(m.Body, "attach_policy")); !v {
		f.add(m.Range(), "%s: attach_policy must be true with a policy denying puts with another encryption or key", n)
		return
	}
	doc := c.policyDocument(Attr(m.Body, "policy"))
	if doc == nil {
		f.add(m.Range(), "%s: policy must be a data.aws_iam_policy_document of this configuration", n)
		return
	}
	var wrongAlg, wrongKey bool
	for _, st := range Blocks(doc.Body, "statement") {
		if e, _ := c.String(Attr(st, "effect")); e != "Deny" || !slices.Contains(c.Strings(Attr(st, "actions")), "s3:PutObject") {
			continue
		}
		for _, cond := range Blocks(st, "condition") {
			variable, _ := c.String(Attr(cond, "variable"))
			switch variable {
			case "s3:x-amz-server-side-encryption":
				if slices.Contains(c.Strings(Attr(cond, "values")), "aws:kms") {
					wrongAlg = true
				}
			case "s3:x-amz-server-side-encryption-aws-kms-key-id":
				if key != "" && RefersTo(Attr(cond, "values"), key) {
					wrongKey = true
				}
			}
		}
	}
	if !wrongAlg {
		f.add(m.Range(), "%s: the bucket policy must deny s3:PutObject asking for other encryption than aws:kms", n)
	}
	if !wrongKey {
		f.add(m.Range(), "%s: the bucket policy must deny s3:PutObject naming another KMS key than the bucket's (%s)", n, key)
	}
}

// policyDocument is the data.aws_iam_policy_document expr's .json refers to.
func (c *Config) policyDocument(expr hclsyntax.Expression) *hclsyntax.Block {
	for _, r := range Refs(expr) {
		p := strings.Split(r, ".")
		if len(p) >= 3 && p[0] == "data" && p[1] == "aws_iam_policy_document" {
			return c.DataBlock(p[1], p[2])
		}
	}
	return nil
}

// rule is one security group rule written in the configuration.
type rule struct {
	owner  *hclsyntax.Block // the module or resource
	rng    hcl.Range
	values func(string) hclsyntax.Expression
}

// ingressRules lists the ingress rules of every module argument and
// resource the configuration writes them in.
func (c *Config) ingressRules() []rule {
	var out []rule
	fromObject := func(owner *hclsyntax.Block, obj hclsyntax.Expression) rule {
		return rule{owner: owner, rng: obj.Range(), values: func(k string) hclsyntax.Expression { return c.Item(obj, k) }}
	}
	for _, m := range c.Modules {
		for argName, a := range m.Body.Attributes {
			switch {
			case strings.Contains(argName, "ingress"):
				for _, e := range c.Entries(a.Expr) {
					out = append(out, fromObject(m, e.Value))
				}
			case argName == "security_group_rules":
				for _, e := range c.Entries(a.Expr) {
					if t, _ := c.String(c.Item(e.Value, "type")); t == "ingress" {
						out = append(out, fromObject(m, e.Value))
					}
				}
			}
		}
	}
	for _, r := range c.Resources {
		body := r.Body
		switch label(r, 0) {
		case "aws_vpc_security_group_ingress_rule":
			out = append(out, rule{owner: r, rng: r.Range(), values: func(k string) hclsyntax.Expression { return Attr(body, k) }})
		case "aws_security_group_rule":
			if t, _ := c.String(Attr(body, "type")); t == "ingress" {
				out = append(out, rule{owner: r, rng: r.Range(), values: func(k string) hclsyntax.Expression { return Attr(body, k) }})
			}
		case "aws_security_group":
			for _, in := range Blocks(body, "ingress") {
				out = append(out, rule{owner: r, rng: r.Range(), values: func(k string) hclsyntax.Expression { return Attr(in, k) }})
			}
		}
	}
	return out
}

var cidrKeys = []string{"cidr_ipv4", "cidr_ipv6", "cidr_blocks", "ipv6_cidr_blocks"}

// checkPublicIngress: nothing is open to the internet but the load
// balancer on 443, and on 80 when its port 80 only redirects to HTTPS.
func checkPublicIngress(c *Config) []Finding {
	f := &findings{check: "public-ingress"}
	for _, r := range c.ingressRules() {
		open := false
		for _, k := range cidrKeys {
			for _, s := range c.Strings(r.values(k)) {
				if s == "0.0.0.0/0" || s == "::/0" {
					open = true
				}
			}
		}
		if !open {
			continue
		}
		from, fok := c.Number(r.values("from_port"))
		to, tok := c.Number(r.values("to_port"))
		isALB := r.owner.Type == "module" && Source(r.owner) == albModule
		switch {
		case !isALB:
			f.add(r.rng, "%s: ingress from the internet; only the load balancer may have it", name(r.owner))
		case !fok || !tok || from != to || (from != 443 && from != 80):
			f.add(r.rng, "%s: ingress from the internet only on 443 (and 80 for the redirect)", name(r.owner))
		case from == 80 && !c.port80OnlyRedirects(r.owner):
			f.add(r.rng, "%s: port 80 is open but its listener does more than redirect to HTTPS", name(r.owner))
		}
	}
	return f.list
}

// port80OnlyRedirects reports whether the load balancer's port-80 listeners
// all answer with a redirect to HTTPS and nothing else.
func (c *Config) port80OnlyRedirects(alb *hclsyntax.Block) bool {
	found := false
	for _, l := range c.Entries(Attr(alb.Body, "listeners")) {
		if p, _ := c.Number(c.Item(l.Value, "port")); p != 80 {
			continue
		}
		found = true
		if proto, _ := c.String(c.Path(l.Value, "redirect", "protocol")); proto != "HTTPS" {
			return false
		}
		for _, other := range []string{"forward", "weighted_forward", "fixed_response", "rules", "authenticate_oidc", "authenticate_cognito"} {
			if c.Item(l.Value, other) != nil {
				return false
			}
		}
	}
	return found
}

// checkPrivateIngress: the tasks take traffic only from the load balancer,
// the database only from the tasks.
func checkPrivateIngress(c *Config) []Finding {
	f := &findings{check: "private-ingress"}
	albs := c.ModulesFrom(albModule, "")
	services := c.ModulesFrom(ecsModule, serviceSubmod)
	onlyFrom := func(m *hclsyntax.Block, sources []*hclsyntax.Block, what string) {
		rules := c.Entries(Attr(m.Body, "security_group_ingress_rules"))
		if len(rules) == 0 {
			f.add(m.Range(), "%s: no ingress rule admits %s", name(m), what)
		}
		for _, e := range rules {
			for _, k := range append(cidrKeys, "prefix_list_id") {
				if c.Item(e.Value, k) != nil {
					f.add(e.Value.Range(), "%s: ingress rule %s admits addresses (%s); only %s may connect", name(m), e.Key, k, what)
				}
			}
			ref := c.Item(e.Value, "referenced_security_group_id")
			ok := false
			for _, s := range sources {
				if RefersTo(ref, "module."+label(s, 0)+".security_group_id") {
					ok = true
				}
			}
			if !ok {
				f.add(e.Value.Range(), "%s: ingress rule %s must reference the security group of %s", name(m), e.Key, what)
			}
		}
	}
	if len(services) == 0 {
		f.add(hcl.Range{Filename: "service"}, "no ECS service (%s//%s) is defined", ecsModule, serviceSubmod)
	}
	for _, s := range services {
		onlyFrom(s, albs, "the load balancer")
	}
	for _, db := range c.ModulesFrom(auroraModule, "") {
		onlyFrom(db, services, "the server's tasks")
	}
	return f.list
}

var tlsPolicy = regexp.MustCompile(`^ELBSecurityPolicy-(TLS13-1-[23]|FS-1-2|TLS-1-2)`)

// checkLoadBalancer: HTTPS on 443 with a certificate and a TLS 1.2+
// policy, any port 80 only redirecting, invalid headers dropped, health
// checked on /readyz, a WAF web ACL associated.
func checkLoadBalancer(c *Config) []Finding {
	f := &findings{check: "load-balancer"}
	albs := c.ModulesFrom(albModule, "")
	if len(albs) == 0 {
		f.add(hcl.Range{Filename: "alb"}, "no load balancer (%s) is defined", albModule)
	}
	for _, m := range albs {
		b, n := m.Body, name(m)
		mustBool(c, f, m, "drop_invalid_header_fields", true)
		https := 0
		for _, l := range c.Entries(Attr(b, "listeners")) {
			proto, _ := c.String(c.Item(l.Value, "protocol"))
			port, _ := c.Number(c.Item(l.Value, "port"))
			switch proto {
			case "HTTPS":
				https++
				if port != 443 {
					f.add(l.Value.Range(), "%s: HTTPS listener %s on port %v, not 443", n, l.Key, port)
				}
				if c.Item(l.Value, "certificate_arn") == nil {
					f.add(l.Value.Range(), "%s: HTTPS listener %s has no certificate_arn", n, l.Key)
				}
				if p, _ := c.String(c.Item(l.Value, "ssl_policy")); !tlsPolicy.MatchString(p) {
					f.add(l.Value.Range(), "%s: listener %s needs a TLS 1.2+ policy, not %q", n, l.Key, p)
				}
			case "HTTP":
				if port != 80 || !c.port80OnlyRedirects(m) {
					f.add(l.Value.Range(), "%s: plain HTTP listener %s must be port 80 and only redirect to HTTPS", n, l.Key)
				}
			default:
				f.add(l.Value.Range(), "%s: listener %s has protocol %q", n, l.Key, proto)
			}
		}
		if https == 0 {
			f.add(m.Range(), "%s: no HTTPS listener", n)
		}
		waf := false
		if v, _ := c.Bool(Attr(b, "associate_web_acl")); v && RefersTo(Attr(b, "web_acl_arn"), "aws_wafv2_web_acl") {
			waf = true
		}
		for _, a := range c.ResourcesOf("aws_wafv2_web_acl_association") {
			if RefersTo(Attr(a.Body, "resource_arn"), "module."+label(m, 0)) && RefersTo(Attr(a.Body, "web_acl_arn"), "aws_wafv2_web_acl") {
				waf = true
			}
		}
		if !waf {
			f.add(m.Range(), "%s: no WAF web ACL of this configuration is associated", n)
		}
		tgs := c.Entries(Attr(b, "target_groups"))
		if len(tgs) == 0 {
			f.add(m.Range(), "%s: no target group", n)
		}
		for _, tg := range tgs {
			if p, _ := c.String(c.Path(tg.Value, "health_check", "path")); p != "/readyz" {
				f.add(tg.Value.Range(), "%s: target group %s must be health-checked on /readyz, not %q", n, tg.Key, p)
			}
		}
	}
	return f.list
}

// checkWAF: the web ACL runs AWS's common and known-bad-inputs rule sets
// and a rate-based rule.
func checkWAF(c *Config) []Finding {
	f := &findings{check: "waf"}
	acls := c.ResourcesOf("aws_wafv2_web_acl")
	if len(acls) == 0 {
		f.add(hcl.Range{Filename: "waf"}, "no aws_wafv2_web_acl is defined")
	}
	for _, acl := range acls {
		managed := map[string]bool{}
		rate := false
		for _, r := range Blocks(acl.Body, "rule") {
			for _, st := range Blocks(r, "statement") {
				for _, g := range Blocks(st, "managed_rule_group_statement") {
					if s, ok := c.String(Attr(g, "name")); ok {
						managed[s] = true
					}
				}
				if len(Blocks(st, "rate_based_statement")) > 0 {
					rate = true
				}
			}
		}
		for _, want := range []string{"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"} {
			if !managed[want] {
				f.add(acl.Range(), "%s: managed rule group %s is missing", name(acl), want)
			}
		}
		if !rate {
			f.add(acl.Range(), "%s: no rate-based rule", name(acl))
		}
	}
	return f.list
}

// checkCloudTrail: a multi-region trail with log file validation, KMS
// encrypted.
func checkCloudTrail(c *Config) []Finding {
	f := &findings{check: "cloudtrail"}
	trails := c.ResourcesOf("aws_cloudtrail")
	if len(trails) == 0 {
		f.add(hcl.Range{Filename: "cloudtrail"}, "no aws_cloudtrail is defined")
	}
	for _, t := range trails {
		mustBool(c, f, t, "enable_log_file_validation", true)
		mustBool(c, f, t, "is_multi_region_trail", true)
		if !c.isKMSRef(Attr(t.Body, "kms_key_id")) {
			f.add(t.Range(), "%s: kms_key_id must be a customer-managed key", name(t))
		}
	}
	return f.list
}

var allowedBedrock = []string{"bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"}

// checkTaskRole: the server's task role grants named actions on named
// resources only: no wildcard action, no "*" or service-wide resource, and
// Bedrock only to invoke models.
func checkTaskRole(c *Config) []Finding {
	f := &findings{check: "task-role"}
	for _, s := range c.ModulesFrom(ecsModule, serviceSubmod) {
		n := name(s)
		var statements []*hclsyntax.Body
		var objects []hclsyntax.Expression
		if create, ok := c.Bool(Attr(s.Body, "create_tasks_iam_role")); ok && !create {
			role := ""
			for _, r := range Refs(Attr(s.Body, "tasks_iam_role_arn")) {
				if p := strings.Split(r, "."); len(p) >= 2 && p[0] == "aws_iam_role" {
					role = "aws_iam_role." + p[1]
				}
			}
			if role == "" {
				f.add(s.Range(), "%s: tasks_iam_role_arn must be an aws_iam_role of this configuration", n)
				continue
			}
			for _, a := range c.ResourcesOf("aws_iam_role_policy_attachment") {
				if RefersTo(Attr(a.Body, "role"), role) {
					f.add(a.Range(), "%s: a managed policy is attached to the task role; write its statements here", name(a))
				}
			}
			policies := 0
			for _, p := range c.ResourcesOf("aws_iam_role_policy") {
				if !RefersTo(Attr(p.Body, "role"), role) {
					continue
				}
				policies++
				doc := c.policyDocument(Attr(p.Body, "policy"))
				if doc == nil {
					f.add(p.Range(), "%s: the policy must be a data.aws_iam_policy_document", name(p))
					continue
				}
				statements = append(statements, Blocks(doc.Body, "statement")...)
			}
			if policies == 0 {
				f.add(s.Range(), "%s: the task role %s has no policy", n, role)
			}
		} else {
			for _, e := range c.Entries(Attr(s.Body, "tasks_iam_role_statements")) {
				objects = append(objects, e.Value)
			}
		}
		get := func(st *hclsyntax.Body, obj hclsyntax.Expression, k string) hclsyntax.Expression {
			if st != nil {
				return Attr(st, k)
			}
			return c.Item(obj, k)
		}
		check := func(st *hclsyntax.Body, obj hclsyntax.Expression, rng hcl.Range) {
			if get(st, obj, "not_actions") != nil || get(st, obj, "not_resources") != nil {
				f.add(rng, "%s: task role statement uses not_actions or not_resources", n)
			}
			actions := c.Strings(get(st, obj, "actions"))
			if len(actions) == 0 {
				f.add(rng, "%s: task role statement lists no known actions", n)
			}
			bedrock := false
			for _, a := range actions {
				if strings.Contains(a, "*") {
					f.add(rng, "%s: task role action %q has a wildcard", n, a)
				}
				if strings.HasPrefix(a, "bedrock:") {
					bedrock = true
					if !slices.Contains(allowedBedrock, a) {
						f.add(rng, "%s: task role may call %s; Bedrock is for invoking models only", n, a)
					}
				}
			}
			res := get(st, obj, "resources")
			if res == nil {
				f.add(rng, "%s: task role statement names no resources", n)
			}
			for _, r := range c.Strings(res) {
				if wideResource.MatchString(r) {
					f.add(rng, "%s: task role resource %q is not a named resource", n, r)
				}
			}
			if tuple, ok := res.(*hclsyntax.TupleConsExpr); ok {
				for _, x := range tuple.Exprs {
					if t, ok := x.(*hclsyntax.TemplateExpr); ok && templateOnlyWildcards(t) {
						f.add(rng, "%s: task role resource %s is a wildcard", n, hclText(c, x))
					}
				}
			}
			if bedrock && !strings.Contains(strings.Join(Refs(res), " "), "model") && !allModelARNs(c.Strings(res)) {
				f.add(rng, "%s: Bedrock must be limited to the configured models' ARNs", n)
			}
		}
		for _, st := range statements {
			if e, _ := c.String(Attr(st, "effect")); e == "Deny" {
				continue
			}
			check(st, nil, st.Range())
		}
		for _, o := range objects {
			if e, _ := c.String(c.Item(o, "effect")); e == "Deny" {
				continue
			}
			check(nil, o, o.Range())
		}
	}
	return f.list
}

var wideResource = regexp.MustCompile(`^\*$|^arn:[^:]*:[^:]*:[^:]*:[^:]*:\*$|^arn:[^:]*:s3:::\*`)

func templateOnlyWildcards(t *hclsyntax.TemplateExpr) bool {
	for _, p := range t.Parts {
		if lit, ok := p.(*hclsyntax.LiteralValueExpr); ok {
			if s := lit.Val; s.Type() == cty.String && strings.Trim(s.AsString(), "*") != "" {
				return false
			}
			continue
		}
		return false
	}
	return true
}

func allModelARNs(arns []string) bool {
	if len(arns) == 0 {
		return false
	}
	for _, a := range arns {
		if !strings.Contains(a, ":foundation-model/") && !strings.Contains(a, ":inference-profile/") || strings.HasSuffix(a, "/*") {
			return false
		}
	}
	return true
}

func hclText(c *Config, e hclsyntax.Expression) string {
	r := e.Range()
	for _, file := range c.Files {
		if file.Name == r.Filename && r.End.Byte <= len(file.Src) {
			return string(file.Src[r.Start.Byte:r.End.Byte])
		}
	}
	return r.String()
}

// checkService: several replicas in private subnets, scaling on CPU and on
// requests per target, logs under a customer key, the database password
// from Secrets Manager and never in the environment.
func checkService(c *Config) []Finding {
	f := &findings{check: "service"}
	for _, s := range c.ModulesFrom(ecsModule, serviceSubmod) {
		b, n := s.Body, name(s)
		if d, ok := c.Number(Attr(b, "desired_count")); !ok || d < 2 {
			f.add(s.Range(), "%s: desired_count must be at least 2 (found %v)", n, d)
		}
		mustBool(c, f, s, "enable_autoscaling", true)
		if d, ok := c.Number(Attr(b, "autoscaling_min_capacity")); !ok || d < 2 {
			f.add(s.Range(), "%s: autoscaling_min_capacity must be at least 2 (found %v)", n, d)
		}
		metrics := map[string]bool{}
		for _, p := range c.Entries(Attr(b, "autoscaling_policies")) {
			if t, ok := c.String(c.Path(p.Value, "target_tracking_scaling_policy_configuration", "predefined_metric_specification", "predefined_metric_type")); ok {
				metrics[t] = true
			}
		}
		for _, want := range []string{"ECSServiceAverageCPUUtilization", "ALBRequestCountPerTarget"} {
			if !metrics[want] {
				f.add(s.Range(), "%s: no target tracking policy on %s", n, want)
			}
		}
		if v, ok := c.Bool(Attr(b, "assign_public_ip")); ok && v {
			f.add(s.Range(), "%s: tasks must not get public addresses", n)
		}
		if !strings.Contains(strings.Join(Refs(Attr(b, "subnet_ids")), " "), "private") {
			f.add(s.Range(), "%s: subnet_ids must be the private subnets", n)
		}
		containers := c.Entries(Attr(b, "container_definitions"))
		if len(containers) == 0 {
			f.add(s.Range(), "%s: no container definitions", n)
		}
		for _, ct := range containers {
			if !c.isKMSRef(c.Item(ct.Value, "cloudwatch_log_group_kms_key_id")) {
				f.add(ct.Value.Range(), "%s: container %s's log group needs a customer-managed KMS key", n, ct.Key)
			}
			envExpr := c.Item(ct.Value, "environment")
			// The server may read the password from the cluster's secret
			// itself, for every connection: the variable then names the
			// secret, and holds no secret.
			fromSecret := c.refersToSecret(c.environmentValue(envExpr, passwordSecretEnv), 3)
			for _, env := range c.environmentNames(envExpr) {
				if env == passwordSecretEnv && fromSecret {
					continue
				}
				if secretWord.MatchString(env) || strings.HasSuffix(env, "API_KEY") {
					f.add(ct.Value.Range(), "%s: %s is set in the environment; secrets come from Secrets Manager", n, env)
				}
			}
			password := fromSecret
			for _, sec := range c.Entries(c.Item(ct.Value, "secrets")) {
				from := c.Item(sec.Value, "valueFrom")
				if t, ok := from.(*hclsyntax.TemplateExpr); ok && len(t.Parts) > 0 {
					if lit, ok := t.Parts[len(t.Parts)-1].(*hclsyntax.LiteralValueExpr); ok && lit.Val.AsString() == ":password::" {
						password = true
					}
				}
			}
			if !password {
				f.add(ct.Value.Range(), "%s: container %s must take the database password from the cluster's secret (%s = its ARN, or valueFrom \"<arn>:password::\")", n, ct.Key, passwordSecretEnv)
			}
		}
	}
	for _, cl := range c.ModulesFrom(ecsModule, "modules/cluster") {
		if !c.isKMSRef(Attr(cl.Body, "cloudwatch_log_group_kms_key_id")) {
			f.add(cl.Range(), "%s: the cluster's log group needs a customer-managed KMS key", name(cl))
		}
	}
	return f.list
}

// environmentNames lists the variable names an ECS environment list sets:
// the name items of a list of objects, or the keys of the map a for
// expression turns into one.
// passwordSecretEnv names the Secrets Manager secret healthhubd reads its
// database password from.
const passwordSecretEnv = "HEALTHHUB_DATABASE_PASSWORD_SECRET"

// environmentValue is the expression of one variable of a container's
// environment, built as a list of {name, value} or by a for expression over
// a map (a local, possibly merged); nil when not found.
func (c *Config) environmentValue(expr hclsyntax.Expression, name string) hclsyntax.Expression {
	switch e := expr.(type) {
	case *hclsyntax.ForExpr:
		coll := e.CollExpr
		if t, ok := coll.(*hclsyntax.ScopeTraversalExpr); ok && len(t.Traversal) == 2 && t.Traversal.RootName() == "local" {
			if a, ok := t.Traversal[1].(hcl.TraverseAttr); ok && c.Locals[a.Name] != nil {
				coll = c.Locals[a.Name].Expr
			}
		}
		return c.Item(coll, name)
	default:
		for _, item := range c.Entries(expr) {
			if s, ok := c.String(c.Item(item.Value, "name")); ok && s == name {
				return c.Item(item.Value, "value")
			}
		}
	}
	return nil
}

// refersToSecret reports whether expr is the ARN of a database cluster's
// managed master-user secret, directly or through up to depth locals.
func (c *Config) refersToSecret(expr hclsyntax.Expression, depth int) bool {
	for _, r := range Refs(expr) {
		if strings.HasPrefix(r, "module.") && strings.Contains(r, ".cluster_master_user_secret") {
			return true
		}
		if local, ok := strings.CutPrefix(r, "local."); ok && depth > 0 && c.Locals[local] != nil &&
			c.refersToSecret(c.Locals[local].Expr, depth-1) {
			return true
		}
	}
	return false
}

func (c *Config) environmentNames(expr hclsyntax.Expression) []string {
	switch e := expr.(type) {
	case *hclsyntax.ForExpr:
		v := c.Value(e.CollExpr)
		if v.IsNull() || !v.IsKnown() || !v.CanIterateElements() {
			return []string{"(environment not known)"}
		}
		var out []string
		for it := v.ElementIterator(); it.Next(); {
			k, _ := it.Element()
			if k.Type() == cty.String {
				out = append(out, k.AsString())
			}
		}
		return out
	default:
		var out []string
		for _, item := range c.Entries(expr) {
			if s, ok := c.String(c.Item(item.Value, "name")); ok {
				out = append(out, s)
			}
		}
		return out
	}
}

var wantEndpoints = []string{"s3", "ecr.api", "ecr.dkr", "logs", "secretsmanager", "kms", "bedrock-runtime"}

// checkNetwork: subnets in at least two zones, NAT for what has no
// endpoint, and VPC endpoints for the AWS APIs that carry patient data.
func checkNetwork(c *Config) []Finding {
	f := &findings{check: "network"}
	vpcs := c.ModulesFrom(vpcModule, "")
	if len(vpcs) == 0 {
		f.add(hcl.Range{Filename: "network"}, "no VPC (%s) is defined", vpcModule)
	}
	for _, v := range vpcs {
		for _, a := range []string{"public_subnets", "private_subnets", "database_subnets"} {
			if l, ok := c.Length(Attr(v.Body, a)); !ok || l < 2 {
				f.add(v.Range(), "%s: %s must span at least two availability zones", name(v), a)
			}
		}
		mustBool(c, f, v, "enable_nat_gateway", true)
	}
	have := map[string]string{}
	for _, m := range c.ModulesFrom(vpcModule, "modules/vpc-endpoints") {
		for _, e := range c.Entries(Attr(m.Body, "endpoints")) {
			if s, ok := c.String(c.Item(e.Value, "service")); ok {
				t, _ := c.String(c.Item(e.Value, "service_type"))
				have[s] = t
			}
		}
	}
	for _, s := range wantEndpoints {
		t, ok := have[s]
		switch {
		case !ok:
			f.add(hcl.Range{Filename: "network"}, "no VPC endpoint for %s", s)
		case s == "s3" && t != "Gateway":
			f.add(hcl.Range{Filename: "network"}, "the S3 endpoint should be a gateway endpoint (no hourly charge)")
		}
	}
	return f.list
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
