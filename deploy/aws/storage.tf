locals {
  blob_bucket       = "${local.name}-blobs-${local.account_id}"
  audit_bucket      = "${local.name}-audit-${local.account_id}"
  cloudtrail_bucket = "${local.name}-cloudtrail-${local.account_id}"
  alb_logs_bucket   = "${local.name}-alb-logs-${local.account_id}"

  # healthhubd keeps blobs under <prefix>/sha256/ and uploads in progress
  # under <prefix>/tmp/.
  blob_prefix        = trim(var.blob_prefix, "/")
  blob_object_prefix = local.blob_prefix == "" ? "" : "${local.blob_prefix}/"
}

################################################################################
# Blobs: images, recordings and uploaded documents (HEALTHHUB_BLOB_S3_*).
################################################################################

module "s3_blobs" {
  source  = "terraform-aws-modules/s3-bucket/aws"
  version = "5.15.4"

  bucket = local.blob_bucket

  block_public_acls        = true
  block_public_policy      = true
  ignore_public_acls       = true
  restrict_public_buckets  = true
  control_object_ownership = true
  object_ownership         = "BucketOwnerEnforced"

  versioning = { enabled = true }

  server_side_encryption_configuration = {
    rule = {
      bucket_key_enabled = true
      apply_server_side_encryption_by_default = {
        sse_algorithm     = "aws:kms"
        kms_master_key_id = module.kms_blobs.key_arn
      }
    }
  }

  attach_deny_insecure_transport_policy = true
  attach_require_latest_tls_policy      = true
  attach_policy                         = true
  policy                                = data.aws_iam_policy_document.blobs_bucket.json

  lifecycle_rule = [
    {
      id                                     = "old-versions"
      enabled                                = true
      abort_incomplete_multipart_upload_days = 1
      noncurrent_version_expiration          = { days = var.blob_noncurrent_days }
      expiration                             = { expired_object_delete_marker = true }
    },
    {
      # Uploads in progress that a stopped task left behind.
      id                            = "unfinished-uploads"
      enabled                       = true
      filter                        = { prefix = "${local.blob_object_prefix}tmp/" }
      expiration                    = { days = 1 }
      noncurrent_version_expiration = { days = 1 }
    },
  ]
}

# A put that names another encryption than SSE-KMS, another key, or a
# customer-provided key is refused. A put that names none gets the bucket's
# default (SSE-KMS with the blob key); the conditions apply only where the
# header is present, so multipart uploads (whose parts carry no encryption
# headers) still work.
data "aws_iam_policy_document" "blobs_bucket" {
  statement {
    sid       = "DenyOtherEncryption"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["arn:${local.partition}:s3:::${local.blob_bucket}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringNotEqualsIfExists"
      variable = "s3:x-amz-server-side-encryption"
      values   = ["aws:kms"]
    }
  }

  statement {
    sid       = "DenyOtherKey"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["arn:${local.partition}:s3:::${local.blob_bucket}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringNotEqualsIfExists"
      variable = "s3:x-amz-server-side-encryption-aws-kms-key-id"
      values   = [module.kms_blobs.key_arn]
    }
  }

  statement {
    sid       = "DenyCustomerKeys"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["arn:${local.partition}:s3:::${local.blob_bucket}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Null"
      variable = "s3:x-amz-server-side-encryption-customer-algorithm"
      values   = ["false"]
    }
  }
}

################################################################################
# Audit archive: write once, kept 6 years under Object Lock in compliance
# mode (not even the account's root user can shorten it).
################################################################################

module "s3_audit" {
  source  = "terraform-aws-modules/s3-bucket/aws"
  version = "5.15.4"

  bucket = local.audit_bucket

  block_public_acls        = true
  block_public_policy      = true
  ignore_public_acls       = true
  restrict_public_buckets  = true
  control_object_ownership = true
  object_ownership         = "BucketOwnerEnforced"

  versioning = { enabled = true }

  object_lock_enabled = true
  object_lock_configuration = {
    rule = {
      default_retention = {
        mode  = "COMPLIANCE"
        years = 6
      }
    }
  }

  server_side_encryption_configuration = {
    rule = {
      bucket_key_enabled = true
      apply_server_side_encryption_by_default = {
        sse_algorithm     = "aws:kms"
        kms_master_key_id = module.kms_audit.key_arn
      }
    }
  }

  attach_deny_insecure_transport_policy = true
  attach_require_latest_tls_policy      = true
  attach_policy                         = true
  policy                                = data.aws_iam_policy_document.audit_bucket.json

  lifecycle_rule = [
    {
      id                                     = "archive"
      enabled                                = true
      abort_incomplete_multipart_upload_days = 7
      transition                             = [{ days = 90, storage_class = "GLACIER_IR" }]
    },
  ]
}

data "aws_iam_policy_document" "audit_bucket" {
  statement {
    sid       = "DenyOtherEncryption"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["arn:${local.partition}:s3:::${local.audit_bucket}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringNotEqualsIfExists"
      variable = "s3:x-amz-server-side-encryption"
      values   = ["aws:kms"]
    }
  }

  statement {
    sid       = "DenyOtherKey"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["arn:${local.partition}:s3:::${local.audit_bucket}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringNotEqualsIfExists"
      variable = "s3:x-amz-server-side-encryption-aws-kms-key-id"
      values   = [module.kms_audit.key_arn]
    }
  }

  statement {
    sid       = "DenyCustomerKeys"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["arn:${local.partition}:s3:::${local.audit_bucket}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Null"
      variable = "s3:x-amz-server-side-encryption-customer-algorithm"
      values   = ["false"]
    }
  }
}

################################################################################
# CloudTrail's bucket.
################################################################################

module "s3_cloudtrail" {
  source  = "terraform-aws-modules/s3-bucket/aws"
  version = "5.15.4"

  bucket = local.cloudtrail_bucket

  block_public_acls        = true
  block_public_policy      = true
  ignore_public_acls       = true
  restrict_public_buckets  = true
  control_object_ownership = true
  object_ownership         = "BucketOwnerEnforced"

  versioning = { enabled = true }

  server_side_encryption_configuration = {
    rule = {
      bucket_key_enabled = true
      apply_server_side_encryption_by_default = {
        sse_algorithm     = "aws:kms"
        kms_master_key_id = module.kms_logs.key_arn
      }
    }
  }

  attach_cloudtrail_log_delivery_policy = true
  attach_deny_insecure_transport_policy = true
  attach_require_latest_tls_policy      = true

  lifecycle_rule = [
    {
      id                                     = "expire"
      enabled                                = true
      abort_incomplete_multipart_upload_days = 7
      expiration                             = { days = var.cloudtrail_retention_days }
      noncurrent_version_expiration          = { days = 30 }
    },
  ]
}

################################################################################
# Load balancer access logs. Elastic Load Balancing writes only to buckets
# encrypted with S3-managed keys (SSE-S3), so this bucket cannot use KMS.
# Query strings in these logs can hold search terms: they are kept 90 days.
################################################################################

module "s3_alb_logs" {
  source  = "terraform-aws-modules/s3-bucket/aws"
  version = "5.15.4"

  create_bucket = var.alb_access_logs
  bucket        = local.alb_logs_bucket

  block_public_acls        = true
  block_public_policy      = true
  ignore_public_acls       = true
  restrict_public_buckets  = true
  control_object_ownership = true
  object_ownership         = "BucketOwnerEnforced"

  versioning = { enabled = true }

  server_side_encryption_configuration = {
    rule = {
      apply_server_side_encryption_by_default = {
        sse_algorithm = "AES256"
      }
    }
  }

  attach_elb_log_delivery_policy        = true
  attach_lb_log_delivery_policy         = true
  attach_deny_insecure_transport_policy = true
  attach_require_latest_tls_policy      = true

  lifecycle_rule = [
    {
      id                                     = "expire"
      enabled                                = true
      abort_incomplete_multipart_upload_days = 7
      expiration                             = { days = 90 }
      noncurrent_version_expiration          = { days = 7 }
    },
  ]
}
