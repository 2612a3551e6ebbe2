################################################################################
# ECS on Fargate: healthhubd in the private subnets, several replicas,
# scaled on CPU and on requests per task.
################################################################################

locals {
  db_secret_arn = module.aurora.cluster_master_user_secret[0].secret_arn

  # Several replicas, except on the first start: one process prints the
  # one-time setup link for the first admin (each start replaces it).
  task_count_min = var.first_start ? 1 : var.desired_count
  task_count_max = var.first_start ? 1 : max(var.max_count, var.desired_count)

  # The password comes from the cluster's managed secret, which healthhubd
  # reads for every new connection (HEALTHHUB_DATABASE_PASSWORD_SECRET), so
  # Secrets Manager's rotations need no redeployment; the rest of the
  # connection is here. TLS is required by the cluster (rds.force_ssl).
  database_url = "postgres://${var.db_master_username}@${module.aurora.cluster_endpoint}:${module.aurora.cluster_port}/${var.db_name}?sslmode=require"

  # HEALTHHUB_BLOB_KMS_KEY_ID is the key's ARN: the blob bucket's policy
  # compares the ARN.
  server_environment = merge(var.extra_environment, {
    HEALTHHUB_ADDR                     = "0.0.0.0:${var.container_port}"
    HEALTHHUB_DATA_DIR                 = local.data_dir
    HEALTHHUB_DATABASE_URL             = local.database_url
    HEALTHHUB_DATABASE_PASSWORD_SECRET = local.db_secret_arn
    HEALTHHUB_PUBLIC_URL               = "https://${var.domain_name}"
    HEALTHHUB_TRUSTED_PROXIES          = join(",", local.public_subnets)
    HEALTHHUB_LOG_FORMAT               = "json"
    HEALTHHUB_KMS_KEY_ID               = module.kms_secrets.key_arn
    HEALTHHUB_LLM_PROVIDER             = "bedrock"
    HEALTHHUB_BEDROCK_MODEL            = var.bedrock_model_id
    HEALTHHUB_BEDROCK_REGION           = local.bedrock_region
    HEALTHHUB_EMBEDDINGS               = var.embeddings_model_id == "" ? "" : "bedrock"
    HEALTHHUB_EMBEDDINGS_MODEL         = var.embeddings_model_id
    HEALTHHUB_KNOWLEDGE_S3             = length(var.knowledge_bucket_names) > 0 ? "true" : "false"
    HEALTHHUB_BLOB_S3_BUCKET           = module.s3_blobs.s3_bucket_id
    HEALTHHUB_BLOB_S3_PREFIX           = local.blob_prefix
    HEALTHHUB_BLOB_KMS_KEY_ID          = module.kms_blobs.key_arn
    AWS_REGION                         = var.region
  })
}

module "ecs_cluster" {
  source  = "terraform-aws-modules/ecs/aws//modules/cluster"
  version = "7.5.0"

  name = local.name

  cloudwatch_log_group_kms_key_id        = module.kms_logs.key_arn
  cloudwatch_log_group_retention_in_days = var.log_retention_days

  cluster_capacity_providers = ["FARGATE"]
  default_capacity_provider_strategy = {
    FARGATE = {
      weight = 100
    }
  }

  setting = [
    {
      name  = "containerInsights"
      value = "enabled"
    },
  ]
}

module "ecs_service" {
  source  = "terraform-aws-modules/ecs/aws//modules/service"
  version = "7.5.0"

  name        = local.name
  cluster_arn = module.ecs_cluster.arn

  cpu    = var.task_cpu
  memory = var.task_memory

  desired_count                      = local.task_count_min
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  deployment_circuit_breaker = {
    enable   = true
    rollback = true
  }
  # Migrations run at start, before /readyz answers.
  health_check_grace_period_seconds = 180
  availability_zone_rebalancing     = "ENABLED"

  subnet_ids       = module.vpc.private_subnets
  assign_public_ip = false

  security_group_name = "${local.name}-tasks"
  security_group_ingress_rules = {
    alb = {
      description                  = "From the load balancer only"
      from_port                    = var.container_port
      to_port                      = var.container_port
      ip_protocol                  = "tcp"
      referenced_security_group_id = module.alb.security_group_id
    }
  }
  security_group_egress_rules = {
    https = {
      description = "HTTPS to the VPC endpoints, S3 and, through NAT, other services"
      from_port   = 443
      to_port     = 443
      ip_protocol = "tcp"
      cidr_ipv4   = "0.0.0.0/0"
    }
    database = {
      description                  = "PostgreSQL to Aurora"
      from_port                    = 5432
      to_port                      = 5432
      ip_protocol                  = "tcp"
      referenced_security_group_id = module.aurora.security_group_id
    }
  }

  load_balancer = {
    server = {
      target_group_arn = module.alb.target_groups["server"].arn
      container_name   = "healthhubd"
      container_port   = var.container_port
    }
  }

  container_definitions = {
    healthhubd = {
      image                  = var.container_image
      essential              = true
      readonlyRootFilesystem = true
      portMappings = [{
        name          = "http"
        containerPort = var.container_port
        protocol      = "tcp"
      }]
      environment = [for k, v in local.server_environment : { name = k, value = v } if v != ""]
      mountPoints = [
        {
          sourceVolume  = "data"
          containerPath = local.data_dir
          readOnly      = false
        },
        {
          sourceVolume  = "tmp"
          containerPath = "/tmp"
          readOnly      = false
        },
      ]
      linuxParameters = {
        capabilities = {
          drop = ["ALL"]
        }
      }
      cloudwatch_log_group_name              = local.log_group
      cloudwatch_log_group_retention_in_days = var.log_retention_days
      cloudwatch_log_group_kms_key_id        = module.kms_logs.key_arn
    }
  }

  # The root file system is read-only. In hosted mode the data folder holds
  # nothing that must last (the keyring is in the database, blobs in S3):
  # both writable folders are the task's own scratch space.
  volume = {
    data = {}
    tmp  = {}
  }

  # Execution role: pulls the image and writes logs; the server itself
  # reads the database secret (task role).
  task_exec_secret_arns = []

  # Task role: what healthhubd itself calls (below).
  create_tasks_iam_role = false
  tasks_iam_role_arn    = aws_iam_role.task.arn

  enable_autoscaling       = true
  autoscaling_min_capacity = local.task_count_min
  autoscaling_max_capacity = local.task_count_max
  autoscaling_policies = {
    cpu = {
      policy_type = "TargetTrackingScaling"
      target_tracking_scaling_policy_configuration = {
        predefined_metric_specification = {
          predefined_metric_type = "ECSServiceAverageCPUUtilization"
        }
        target_value = var.cpu_target_percent
      }
    }
    requests = {
      policy_type = "TargetTrackingScaling"
      target_tracking_scaling_policy_configuration = {
        predefined_metric_specification = {
          predefined_metric_type = "ALBRequestCountPerTarget"
          resource_label         = "${module.alb.arn_suffix}/${module.alb.target_groups["server"].arn_suffix}"
        }
        target_value = var.requests_per_target
      }
    }
  }
}

################################################################################
# Task role: exactly the calls healthhubd makes.
################################################################################

data "aws_iam_policy_document" "task_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${var.region}:${local.account_id}:*"]
    }
  }
}

resource "aws_iam_role" "task" {
  name_prefix        = "${local.name}-task-"
  description        = "healthhubd: Bedrock, its buckets, its keys"
  assume_role_policy = data.aws_iam_policy_document.task_assume.json
}

data "aws_iam_policy_document" "task" {
  statement {
    sid       = "InvokeModels"
    actions   = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]
    resources = local.bedrock_model_arns
  }

  # HeadBucket (the start-up check) and listing both need s3:ListBucket;
  # HeadBucket names no prefix, so the bucket is not narrowed by one.
  statement {
    sid       = "ListBlobs"
    actions   = ["s3:ListBucket"]
    resources = [module.s3_blobs.s3_bucket_arn]
  }

  # Reads, writes (single and multipart, copies within the bucket) and
  # deletes of the server's own objects.
  statement {
    sid       = "ReadWriteBlobs"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${module.s3_blobs.s3_bucket_arn}/${local.blob_object_prefix}*"]
  }

  statement {
    sid       = "WriteAuditArchive"
    actions   = ["s3:PutObject"]
    resources = ["${module.s3_audit.s3_bucket_arn}/*"]
  }

  # The database password, read for every new connection (it is encrypted
  # under the secrets key, below).
  statement {
    sid       = "ReadDatabaseSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.db_secret_arn]
  }

  statement {
    sid       = "KeyringAndBlobKeys"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt"]
    resources = [module.kms_secrets.key_arn, module.kms_blobs.key_arn]
  }

  # Writing an SSE-KMS object needs GenerateDataKey, and Decrypt when it is
  # uploaded in parts; the role cannot read the archive (no s3:GetObject).
  statement {
    sid       = "AuditArchiveKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [module.kms_audit.key_arn]
  }

  dynamic "statement" {
    for_each = length(var.knowledge_bucket_names) > 0 ? [1] : []

    content {
      sid       = "ReadKnowledgeBuckets"
      actions   = ["s3:ListBucket", "s3:GetObject"]
      resources = flatten([for b in var.knowledge_bucket_names : ["arn:${local.partition}:s3:::${b}", "arn:${local.partition}:s3:::${b}/*"]])
    }
  }
}

resource "aws_iam_role_policy" "task" {
  name_prefix = "healthhubd-"
  role        = aws_iam_role.task.id
  policy      = data.aws_iam_policy_document.task.json
}
