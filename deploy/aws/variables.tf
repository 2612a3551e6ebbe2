################################################################################
# Placement and naming
################################################################################

variable "region" {
  description = "AWS region of the deployment (e.g. us-east-1)."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Short name that prefixes every resource."
  type        = string
  default     = "healthhub"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "The name must be 2 to 21 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "environment" {
  description = "Environment name, such as prod or staging; part of every resource name."
  type        = string
  default     = "prod"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.environment))
    error_message = "The environment must be 2 to 10 lower-case letters or digits, starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags for every resource (cost centre, owner, ...)."
  type        = map(string)
  default     = {}
}

################################################################################
# Network
################################################################################

variable "vpc_cidr" {
  description = "IPv4 range of the VPC; a /16 leaves room for the /24 public and database subnets and the /20 private subnets."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr)) && tonumber(split("/", var.vpc_cidr)[1]) <= 16
    error_message = "The VPC range must be a CIDR block of /16 or larger."
  }
}

variable "az_count" {
  description = "Number of availability zones the VPC, tasks and database instances spread over."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 3
    error_message = "Use 2 or 3 availability zones."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (cheaper) instead of one per zone (survives the loss of a zone)."
  type        = bool
  default     = false
}

################################################################################
# Public endpoint
################################################################################

variable "domain_name" {
  description = "Host name people use to reach HealthHub, e.g. app.clinic.example; the certificate must cover it."
  type        = string
}

variable "certificate_arn" {
  description = "ARN of the ACM certificate for domain_name, in the deployment's region."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:", var.certificate_arn))
    error_message = "The certificate must be an ACM certificate ARN (arn:aws:acm:...)."
  }
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone in which to create the alias record for domain_name; null to create the DNS record yourself."
  type        = string
  default     = null
}

variable "alb_access_logs" {
  description = "Keep the load balancer's access logs in their own S3 bucket."
  type        = bool
  default     = true
}

variable "alb_deletion_protection" {
  description = "Protect the load balancer from deletion; set to false only to destroy the deployment."
  type        = bool
  default     = true
}

variable "alb_idle_timeout" {
  description = "Seconds an idle connection stays open at the load balancer; long enough for streamed answers and WebSocket pauses."
  type        = number
  default     = 300
}

variable "waf_rate_limit" {
  description = "Requests from one IP address within 5 minutes before the web ACL blocks it for a while."
  type        = number
  default     = 3000

  validation {
    condition     = var.waf_rate_limit >= 100
    error_message = "WAF rate-based rules need a limit of at least 100."
  }
}

################################################################################
# Server
################################################################################

variable "container_image" {
  description = "Image of healthhubd to run, by tag or better by digest, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/healthhub@sha256:...; built by `make image` and pushed by the operator."
  type        = string
}

variable "container_port" {
  description = "Port healthhubd listens on inside the task (HEALTHHUB_ADDR)."
  type        = number
  default     = 8080
}

variable "task_cpu" {
  description = "CPU units of one task (1024 = 1 vCPU)."
  type        = number
  default     = 1024
}

variable "task_memory" {
  description = "Memory of one task in MiB; must suit task_cpu on Fargate."
  type        = number
  default     = 2048
}

variable "desired_count" {
  description = "Tasks to run, and the least autoscaling keeps; at least 2 so one zone or one task can fail."
  type        = number
  default     = 2

  validation {
    condition     = var.desired_count >= 2
    error_message = "Run at least 2 tasks."
  }
}

variable "first_start" {
  description = "true on the very first apply only: a single task starts, so exactly one one-time setup link for the first admin is printed; then apply again with false (README.md)."
  type        = bool
  default     = false
}

variable "max_count" {
  description = "Most tasks autoscaling may run."
  type        = number
  default     = 8
}

variable "cpu_target_percent" {
  description = "Average CPU use of the tasks that autoscaling aims for."
  type        = number
  default     = 60
}

variable "requests_per_target" {
  description = "Requests per task per minute at the load balancer that autoscaling aims for."
  type        = number
  default     = 1500
}

variable "extra_environment" {
  description = "More HEALTHHUB_* settings for the server (e.g. HEALTHHUB_SMTP_ADDR); they cannot override the ones this module sets."
  type        = map(string)
  default     = {}
}

################################################################################
# Assistant (Bedrock)
################################################################################

variable "bedrock_model_id" {
  description = "Bedrock model or inference profile id the assistant answers with (HEALTHHUB_BEDROCK_MODEL), enabled in the account, e.g. us.anthropic.claude-3-5-haiku-20241022-v1:0."
  type        = string
}

variable "bedrock_region" {
  description = "Region of the Bedrock runtime the server calls; null for the deployment's region (then the call stays on the VPC endpoint)."
  type        = string
  default     = null
}

variable "bedrock_inference_profile_regions" {
  description = "Regions a cross-region inference profile (a model id starting with us., eu., apac. ...) may route to; the task may invoke the model there."
  type        = list(string)
  default     = ["us-east-1", "us-east-2", "us-west-2"]
}

variable "embeddings_model_id" {
  description = "Bedrock embedding model for vector search of the knowledge base, e.g. amazon.titan-embed-text-v2:0; empty for full-text search only."
  type        = string
  default     = ""
}

variable "knowledge_bucket_names" {
  description = "S3 buckets admins may add as knowledge sources (read only); empty to offer none."
  type        = list(string)
  default     = []
}

################################################################################
# Database
################################################################################

variable "db_engine_version" {
  description = "Aurora PostgreSQL engine version; the parameter group family follows its major version."
  type        = string
  default     = "17.5"
}

variable "db_instance_class" {
  description = "Instance class of every Aurora instance (writer and readers)."
  type        = string
  default     = "db.r7g.large"
}

variable "db_instance_count" {
  description = "Aurora instances: one writer, the rest readers that can take over; at least 2."
  type        = number
  default     = 2

  validation {
    condition     = var.db_instance_count >= 2 && var.db_instance_count <= 15
    error_message = "Run 2 to 15 Aurora instances."
  }
}

variable "db_storage_type" {
  description = "Aurora storage: \"\" for Standard (pay per I/O) or \"aurora-iopt1\" for I/O-Optimized."
  type        = string
  default     = ""

  validation {
    condition     = contains(["", "aurora-iopt1"], var.db_storage_type)
    error_message = "The storage type is \"\" (Standard) or \"aurora-iopt1\"."
  }
}

variable "db_name" {
  description = "Name of the database healthhubd uses."
  type        = string
  default     = "healthhub"
}

variable "db_master_username" {
  description = "Master user of the cluster; its password is made and kept by RDS in Secrets Manager."
  type        = string
  default     = "healthhub"
}

variable "db_iam_auth" {
  description = "Also allow IAM database authentication (healthhubd itself signs in with the password)."
  type        = bool
  default     = false
}

variable "db_password_rotation_days" {
  description = "Days between rotations of the master password by Secrets Manager; healthhubd reads the secret for every new connection, so a rotation needs no redeployment."
  type        = number
  default     = 30

  validation {
    condition     = var.db_password_rotation_days >= 1 && var.db_password_rotation_days <= 365
    error_message = "Rotate every 1 to 365 days."
  }
}

variable "db_backup_window" {
  description = "Daily UTC window for automated backups (hh24:mi-hh24:mi)."
  type        = string
  default     = "03:00-04:00"
}

variable "db_maintenance_window" {
  description = "Weekly UTC maintenance window (ddd:hh24:mi-ddd:hh24:mi); must not overlap the backup window."
  type        = string
  default     = "sun:05:00-sun:06:00"
}

################################################################################
# Storage, keys and logs
################################################################################

variable "blob_prefix" {
  description = "Folder of the server's blobs in the blob bucket (HEALTHHUB_BLOB_S3_PREFIX); empty for the bucket's top."
  type        = string
  default     = "blobs"
}

variable "blob_noncurrent_days" {
  description = "Days a replaced or deleted blob's old version is kept before S3 removes it."
  type        = number
  default     = 35
}

variable "kms_deletion_window_days" {
  description = "Days a KMS key waits between scheduled deletion and deletion."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "KMS accepts 7 to 30 days."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the server's, database's, WAF's and VPC flow logs."
  type        = number
  default     = 365
}

variable "cloudtrail_retention_days" {
  description = "Days the CloudTrail bucket keeps log files."
  type        = number
  default     = 2190
}

variable "cloudtrail_s3_data_events" {
  description = "Record object-level reads and writes of the blob and audit buckets in CloudTrail (who touched which file)."
  type        = bool
  default     = true
}

################################################################################
# Alarms
################################################################################

variable "alarm_email" {
  description = "E-mail address the alarms are sent to; AWS asks it to confirm the subscription."
  type        = string
}

variable "alarm_5xx_percent" {
  description = "Share of requests answered 5xx (load balancer and server together) that raises the alarm, in percent."
  type        = number
  default     = 2
}

variable "alarm_p99_seconds" {
  description = "99th percentile of the server's response time (to the first byte) that raises the alarm, in seconds."
  type        = number
  default     = 2
}

variable "alarm_db_cpu_percent" {
  description = "Aurora CPU use that raises the alarm, in percent."
  type        = number
  default     = 80
}

variable "alarm_db_free_local_storage_gib" {
  description = "Free local storage of an Aurora instance (temporary files, logs) below which the alarm is raised, in GiB."
  type        = number
  default     = 2
}

variable "alarm_db_freeable_memory_mib" {
  description = "Freeable memory of an Aurora instance below which the alarm is raised, in MiB."
  type        = number
  default     = 256
}
