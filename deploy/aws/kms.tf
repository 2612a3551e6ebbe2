################################################################################
# One customer-managed key per class of data, each rotated yearly. The key
# policies keep the account's default statement (IAM policies decide who may
# use a key) and add the AWS services that encrypt with a key themselves.
################################################################################

module "kms_database" {
  source  = "terraform-aws-modules/kms/aws"
  version = "4.2.0"

  description             = "${local.name}: Aurora storage, snapshots and Performance Insights"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  aliases                 = ["${local.name}/database"]
}

module "kms_blobs" {
  source  = "terraform-aws-modules/kms/aws"
  version = "4.2.0"

  description             = "${local.name}: blob bucket (images, recordings, documents)"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  aliases                 = ["${local.name}/blobs"]
}

module "kms_audit" {
  source  = "terraform-aws-modules/kms/aws"
  version = "4.2.0"

  description             = "${local.name}: audit archive bucket"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  aliases                 = ["${local.name}/audit"]
}

# Wraps the server's encryption keyring (HEALTHHUB_KMS_KEY_ID), which the
# server keeps wrapped in the database, and the database master secret.
module "kms_secrets" {
  source  = "terraform-aws-modules/kms/aws"
  version = "4.2.0"

  description             = "${local.name}: keyring wrapping, database master secret"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  aliases                 = ["${local.name}/secrets"]
}

module "kms_logs" {
  source  = "terraform-aws-modules/kms/aws"
  version = "4.2.0"

  description             = "${local.name}: CloudWatch logs, CloudTrail, alarm notifications"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  aliases                 = ["${local.name}/logs"]

  key_statements = [
    {
      sid       = "CloudWatchLogs"
      actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
      resources = ["*"]
      principals = [{
        type        = "Service"
        identifiers = ["logs.${var.region}.amazonaws.com"]
      }]
      condition = [{
        test     = "ArnLike"
        variable = "kms:EncryptionContext:aws:logs:arn"
        values   = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:*"]
      }]
    },
    {
      sid       = "CloudTrailEncrypt"
      actions   = ["kms:GenerateDataKey*"]
      resources = ["*"]
      principals = [{
        type        = "Service"
        identifiers = ["cloudtrail.amazonaws.com"]
      }]
      condition = [
        {
          test     = "StringLike"
          variable = "kms:EncryptionContext:aws:cloudtrail:arn"
          values   = ["arn:${local.partition}:cloudtrail:*:${local.account_id}:trail/*"]
        },
        {
          test     = "StringEquals"
          variable = "aws:SourceArn"
          values   = [local.trail_arn]
        },
      ]
    },
    {
      sid       = "CloudTrailDescribe"
      actions   = ["kms:DescribeKey"]
      resources = ["*"]
      principals = [{
        type        = "Service"
        identifiers = ["cloudtrail.amazonaws.com"]
      }]
    },
    {
      sid       = "CloudWatchAlarmsToEncryptedTopic"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
      resources = ["*"]
      principals = [{
        type        = "Service"
        identifiers = ["cloudwatch.amazonaws.com"]
      }]
    },
  ]
}
