package tfcheck_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/healthhub/healthhub/deploy/aws/tfcheck"
)

// deployment reads the Terraform of deploy/aws.
func deployment(t *testing.T) map[string][]byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("..", "*.tf"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no Terraform files next to this package: %v", err)
	}
	files := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(n)] = b
	}
	return files
}

func run(t *testing.T, files map[string][]byte, check string) []tfcheck.Finding {
	t.Helper()
	c, err := tfcheck.Parse(files)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range tfcheck.Checks {
		if ch.Name == check {
			return ch.Run(c)
		}
	}
	t.Fatalf("no check named %s", check)
	return nil
}

// TestDeploymentPasses: the real configuration breaks no rule, so every
// finding below comes from the change each case makes.
func TestDeploymentPasses(t *testing.T) {
	c, err := tfcheck.Parse(deployment(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range tfcheck.Run(c) {
		t.Error(f)
	}
}

// TestChecksCatchBreakage changes one thing in the real configuration per
// case and expects the matching check to report it: no check can pass
// without looking.
func TestChecksCatchBreakage(t *testing.T) {
	type edit struct{ file, old, new string }
	cases := []struct {
		name  string
		check string
		edits []edit
		want  string
	}{
		{"misaligned attributes", "formatting",
			[]edit{{"alb.tf", "  vpc_id  = module.vpc.vpc_id", "  vpc_id = module.vpc.vpc_id"}}, "terraform fmt"},
		{"version range", "module-versions",
			[]edit{{"alb.tf", `version = "10.5.0"`, `version = "~> 10.5"`}}, "exact version"},
		{"no version", "module-versions",
			[]edit{{"network.tf", "  version = \"6.6.0\"\n\n  name = local.name", "\n  name = local.name"}}, "exact version"},
		{"git source without ref", "module-versions",
			[]edit{{"kms.tf", `source  = "terraform-aws-modules/kms/aws"` + "\n  version = \"4.2.0\"\n\n  description             = \"${local.name}: blob",
				`source = "git::https://example.com/kms.git"` + "\n\n  description             = \"${local.name}: blob"}}, "pinned"},
		{"variable without description", "variables",
			[]edit{{"variables.tf", "  description = \"Short name that prefixes every resource.\"\n", ""}}, "no description"},
		{"variable without type", "variables",
			[]edit{{"variables.tf", "  description = \"Extra tags for every resource (cost centre, owner, ...).\"\n  type        = map(string)\n",
				"  description = \"Extra tags for every resource (cost centre, owner, ...).\"\n"}}, "no type"},
		{"output of the master secret", "outputs",
			[]edit{{"outputs.tf", "output \"url\" {", "output \"db_access\" {\n  description = \"x\"\n  value       = module.aurora.cluster_master_user_secret\n}\n\noutput \"url\" {"}}, "derived from module.aurora.cluster_master_user_secret"},
		{"output through a local", "outputs",
			[]edit{{"outputs.tf", "output \"url\" {", "locals {\n  db = local.db_secret_arn\n}\n\noutput \"db\" {\n  description = \"x\"\n  value       = local.db\n}\n\noutput \"url\" {"}}, "derived from local.db_secret_arn"},
		{"sensitive output", "outputs",
			[]edit{{"outputs.tf", "  value       = \"https://${var.domain_name}\"\n", "  value       = \"https://${var.domain_name}\"\n  sensitive   = true\n"}}, "sensitive"},
		{"output named like a password", "outputs",
			[]edit{{"outputs.tf", `output "url" {`, `output "admin_password" {`}}, "named like a secret"},
		{"key without rotation", "kms-rotation",
			[]edit{{"kms.tf", "  description             = \"${local.name}: audit archive bucket\"\n  enable_key_rotation     = true",
				"  description             = \"${local.name}: audit archive bucket\"\n  enable_key_rotation     = false"}}, "enable_key_rotation"},
		{"raw key without rotation", "kms-rotation",
			[]edit{{"kms.tf", "module \"kms_database\" {", "resource \"aws_kms_key\" \"extra\" {\n  description = \"x\"\n}\n\nmodule \"kms_database\" {"}}, "enable_key_rotation"},
		{"unencrypted database", "database",
			[]edit{{"database.tf", "storage_encrypted                   = true", "storage_encrypted                   = false"}}, "storage_encrypted"},
		{"database with an AWS-managed key", "database",
			[]edit{{"database.tf", "kms_key_id                          = module.kms_database.key_arn", "kms_key_id                          = \"alias/aws/rds\""}}, "kms_key_id"},
		{"deletable database", "database",
			[]edit{{"database.tf", "deletion_protection          = true", "deletion_protection          = false"}}, "deletion_protection"},
		{"short backups", "database",
			[]edit{{"database.tf", "backup_retention_period      = 35", "backup_retention_period      = 7"}}, "backup_retention_period"},
		{"no postgresql log export", "database",
			[]edit{{"database.tf", `enabled_cloudwatch_logs_exports        = ["postgresql"]`, `enabled_cloudwatch_logs_exports        = []`}}, "postgresql"},
		{"single instance", "database",
			[]edit{{"variables.tf", "  description = \"Aurora instances: one writer, the rest readers that can take over; at least 2.\"\n  type        = number\n  default     = 2",
				"  description = \"Aurora instances: one writer, the rest readers that can take over; at least 2.\"\n  type        = number\n  default     = 1"}}, "at least one reader"},
		{"password in Terraform", "database",
			[]edit{{"database.tf", "manage_master_user_password                            = true", "manage_master_user_password                            = false\n  master_password_wo                                     = \"x\""}}, "master_password_wo"},
		{"performance insights without a key", "database",
			[]edit{{"database.tf", "      performance_insights_kms_key_id       = module.kms_database.key_arn\n", ""}}, "Performance Insights"},
		{"public bucket policy allowed", "buckets",
			[]edit{{"storage.tf", "  bucket = local.blob_bucket\n\n  block_public_acls        = true\n  block_public_policy      = true",
				"  bucket = local.blob_bucket\n\n  block_public_acls        = true\n  block_public_policy      = false"}}, "block_public_policy"},
		{"unversioned bucket", "buckets",
			[]edit{{"storage.tf", "  bucket = local.audit_bucket\n", "  bucket = local.audit_bucket\n  # changed\n"}, {"storage.tf", "  versioning = { enabled = true }\n\n  object_lock_enabled", "  versioning = { enabled = false }\n\n  object_lock_enabled"}}, "versioning"},
		{"plain HTTP allowed", "buckets",
			[]edit{{"storage.tf", "  attach_cloudtrail_log_delivery_policy = true\n  attach_deny_insecure_transport_policy = true", "  attach_cloudtrail_log_delivery_policy = true\n  attach_deny_insecure_transport_policy = false"}}, "attach_deny_insecure_transport_policy"},
		{"SSE-S3 on the blobs", "buckets",
			[]edit{{"storage.tf", "        sse_algorithm     = \"aws:kms\"\n        kms_master_key_id = module.kms_blobs.key_arn", "        sse_algorithm     = \"AES256\""}}, "SSE-KMS"},
		{"no bucket keys", "buckets",
			[]edit{{"storage.tf", "      bucket_key_enabled = true\n      apply_server_side_encryption_by_default = {\n        sse_algorithm     = \"aws:kms\"\n        kms_master_key_id = module.kms_audit.key_arn",
				"      apply_server_side_encryption_by_default = {\n        sse_algorithm     = \"aws:kms\"\n        kms_master_key_id = module.kms_audit.key_arn"}}, "bucket_key_enabled"},
		{"wrong key allowed", "buckets",
			[]edit{{"storage.tf", "      values   = [module.kms_blobs.key_arn]", "      values   = [module.kms_audit.key_arn]"}}, "another KMS key"},
		{"other encryption allowed", "buckets",
			[]edit{{"storage.tf", "    sid       = \"DenyOtherEncryption\"\n    effect    = \"Deny\"\n    actions   = [\"s3:PutObject\"]\n    resources = [\"arn:${local.partition}:s3:::${local.audit_bucket}/*\"]",
				"    sid       = \"DenyOtherEncryption\"\n    effect    = \"Allow\"\n    actions   = [\"s3:PutObject\"]\n    resources = [\"arn:${local.partition}:s3:::${local.audit_bucket}/*\"]"}}, "other encryption"},
		{"governance mode", "buckets",
			[]edit{{"storage.tf", `mode  = "COMPLIANCE"`, `mode  = "GOVERNANCE"`}}, "COMPLIANCE"},
		{"one year", "buckets",
			[]edit{{"storage.tf", "        years = 6", "        years = 1"}}, "6 years"},
		{"no audit archive", "buckets",
			[]edit{{"storage.tf", `module "s3_audit" {`, `module "s3_archive" {`}, {"storage.tf", "  object_lock_enabled = true\n", "  object_lock_enabled = false\n"}}, "no audit archive"},
		{"SSH open on the load balancer", "public-ingress",
			[]edit{{"alb.tf", "      from_port   = 443\n      to_port     = 443", "      from_port   = 22\n      to_port     = 22"}}, "only on 443"},
		{"tasks open to the internet", "public-ingress",
			[]edit{{"service.tf", "      referenced_security_group_id = module.alb.security_group_id", "      cidr_ipv4                    = \"0.0.0.0/0\""}}, "only the load balancer"},
		{"endpoints open to the internet", "public-ingress",
			[]edit{{"network.tf", "cidr_blocks = [var.vpc_cidr]", "cidr_blocks = [\"0.0.0.0/0\"]"}}, "only the load balancer"},
		{"database open over IPv6", "public-ingress",
			[]edit{{"database.tf", "      referenced_security_group_id = module.ecs_service.security_group_id", "      cidr_ipv6                    = \"::/0\""}}, "only the load balancer"},
		{"raw security group open", "public-ingress",
			[]edit{{"alb.tf", "resource \"aws_wafv2_web_acl\" \"this\" {", "resource \"aws_security_group\" \"debug\" {\n  ingress {\n    from_port   = 5432\n    to_port     = 5432\n    protocol    = \"tcp\"\n    cidr_blocks = [\"0.0.0.0/0\"]\n  }\n}\n\nresource \"aws_wafv2_web_acl\" \"this\" {"}}, "only the load balancer"},
		{"port 80 serves the application", "public-ingress",
			[]edit{{"alb.tf", "      redirect = {\n        port        = \"443\"\n        protocol    = \"HTTPS\"\n        status_code = \"HTTP_301\"\n      }", "      forward = {\n        target_group_key = \"server\"\n      }"}}, "more than redirect"},
		{"tasks reachable from the VPC", "private-ingress",
			[]edit{{"service.tf", "      referenced_security_group_id = module.alb.security_group_id", "      cidr_ipv4                    = var.vpc_cidr"}}, "admits addresses"},
		{"database reachable from the load balancer", "private-ingress",
			[]edit{{"database.tf", "referenced_security_group_id = module.ecs_service.security_group_id", "referenced_security_group_id = module.alb.security_group_id"}}, "the server's tasks"},
		{"invalid headers forwarded", "load-balancer",
			[]edit{{"alb.tf", "drop_invalid_header_fields = true", "drop_invalid_header_fields = false"}}, "drop_invalid_header_fields"},
		{"TLS 1.0 policy", "load-balancer",
			[]edit{{"alb.tf", `ssl_policy      = "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"`, `ssl_policy      = "ELBSecurityPolicy-2016-08"`}}, "TLS 1.2+"},
		{"no certificate", "load-balancer",
			[]edit{{"alb.tf", "      certificate_arn = var.certificate_arn\n", ""}}, "certificate_arn"},
		{"no WAF", "load-balancer",
			[]edit{{"alb.tf", "associate_web_acl = true", "associate_web_acl = false"}}, "WAF"},
		{"health check on /healthz", "load-balancer",
			[]edit{{"alb.tf", `path                = "/readyz"`, `path                = "/healthz"`}}, "/readyz"},
		{"no known-bad-inputs rules", "waf",
			[]edit{{"alb.tf", `name        = "AWSManagedRulesKnownBadInputsRuleSet"`, `name        = "AWSManagedRulesLinuxRuleSet"`}}, "AWSManagedRulesKnownBadInputsRuleSet"},
		{"no rate limit", "waf",
			[]edit{{"alb.tf", "      rate_based_statement {\n        limit                 = var.waf_rate_limit\n        aggregate_key_type    = \"IP\"\n        evaluation_window_sec = 300\n      }",
				"      managed_rule_group_statement {\n        name        = \"AWSManagedRulesAdminProtectionRuleSet\"\n        vendor_name = \"AWS\"\n      }"}}, "rate-based"},
		{"unvalidated trail", "cloudtrail",
			[]edit{{"monitoring.tf", "enable_log_file_validation    = true", "enable_log_file_validation    = false"}}, "enable_log_file_validation"},
		{"one-region trail", "cloudtrail",
			[]edit{{"monitoring.tf", "is_multi_region_trail         = true", "is_multi_region_trail         = false"}}, "is_multi_region_trail"},
		{"wildcard action", "task-role",
			[]edit{{"service.tf", `actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]`, `actions   = ["s3:*"]`}}, "wildcard"},
		{"any resource", "task-role",
			[]edit{{"service.tf", "    resources = [module.s3_blobs.s3_bucket_arn]", "    resources = [\"*\"]"}}, "not a named resource"},
		{"wildcard in a template", "task-role",
			[]edit{{"service.tf", "    resources = [module.s3_blobs.s3_bucket_arn]", "    resources = [\"${\"*\"}\"]"}}, "not a named resource"},
		{"every bucket", "task-role",
			[]edit{{"service.tf", "    resources = [\"${module.s3_audit.s3_bucket_arn}/*\"]", "    resources = [\"arn:aws:s3:::*\"]"}}, "not a named resource"},
		{"all of Bedrock", "task-role",
			[]edit{{"service.tf", `actions   = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]`, `actions   = ["bedrock:InvokeModel", "bedrock:CreateModelCustomizationJob"]`}}, "invoking models only"},
		{"any model", "task-role",
			[]edit{{"service.tf", "    resources = local.bedrock_model_arns", "    resources = [\"arn:aws:bedrock:us-east-1::foundation-model/*\"]"}}, "configured models"},
		{"managed policy on the task role", "task-role",
			[]edit{{"service.tf", "resource \"aws_iam_role_policy\" \"task\" {", "resource \"aws_iam_role_policy_attachment\" \"task\" {\n  role       = aws_iam_role.task.name\n  policy_arn = \"arn:aws:iam::aws:policy/AmazonS3FullAccess\"\n}\n\nresource \"aws_iam_role_policy\" \"task\" {"}}, "managed policy"},
		{"one task", "service",
			[]edit{{"service.tf", "task_count_min = var.first_start ? 1 : var.desired_count", "task_count_min = 1"}}, "desired_count"},
		{"no scaling on requests", "service",
			[]edit{{"service.tf", `predefined_metric_type = "ALBRequestCountPerTarget"`, `predefined_metric_type = "ECSServiceAverageMemoryUtilization"`}}, "ALBRequestCountPerTarget"},
		{"public tasks", "service",
			[]edit{{"service.tf", "assign_public_ip = false", "assign_public_ip = true"}}, "public addresses"},
		{"password in the environment", "service",
			[]edit{{"service.tf", "    AWS_REGION                         = var.region", "    AWS_REGION                         = var.region\n    HEALTHHUB_SMTP_PASSWORD    = \"x\""}}, "HEALTHHUB_SMTP_PASSWORD"},
		{"password not from the secret", "service",
			[]edit{{"service.tf", `HEALTHHUB_DATABASE_PASSWORD_SECRET = local.db_secret_arn`, `HEALTHHUB_DATABASE_PASSWORD_SECRET = "hunter2"`}}, "password"},
		{"no password at all", "service",
			[]edit{{"service.tf", "    HEALTHHUB_DATABASE_PASSWORD_SECRET = local.db_secret_arn\n", ""}}, "database password"},
		{"logs without a key", "service",
			[]edit{{"service.tf", "      cloudwatch_log_group_kms_key_id        = module.kms_logs.key_arn\n", ""}}, "customer-managed KMS key"},
		{"one zone", "network",
			[]edit{{"variables.tf", "  type        = number\n  default     = 2\n\n  validation {\n    condition     = var.az_count >= 2", "  type        = number\n  default     = 1\n\n  validation {\n    condition     = var.az_count >= 2"}}, "two availability zones"},
		{"no Bedrock endpoint", "network",
			[]edit{{"network.tf", `service             = "bedrock-runtime"`, `service             = "bedrock"`}}, "bedrock-runtime"},
		{"no NAT", "network",
			[]edit{{"network.tf", "enable_nat_gateway     = true", "enable_nat_gateway     = false"}}, "enable_nat_gateway"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			files := deployment(t)
			for _, e := range tc.edits {
				src := string(files[e.file])
				if strings.Count(src, e.old) != 1 {
					t.Fatalf("%s holds %q %d times, not once: update the case", e.file, e.old, strings.Count(src, e.old))
				}
				files[e.file] = []byte(strings.Replace(src, e.old, e.new, 1))
			}
			found := run(t, files, tc.check)
			for _, f := range found {
				if strings.Contains(f.Message, tc.want) {
					return
				}
			}
			t.Errorf("check %s did not report %q; it reported %v", tc.check, tc.want, found)
		})
	}
}

// TestChecksWantTheirResources: a configuration without a database, a
// trail, a web ACL, ... is reported, not passed for want of anything to
// look at.
func TestChecksWantTheirResources(t *testing.T) {
	files := map[string][]byte{"main.tf": []byte("variable \"x\" {\n  type        = string\n  description = \"x\"\n}\n")}
	for _, check := range []string{"kms-rotation", "database", "buckets", "private-ingress", "load-balancer", "waf", "cloudtrail", "network"} {
		if found := run(t, files, check); len(found) == 0 {
			t.Errorf("check %s found nothing missing in an empty configuration", check)
		}
	}
}
