################################################################################
# CloudTrail: every region's management events, and who read or wrote which
# object in the blob and audit buckets; files are signed (log file
# validation) and encrypted with the logs key.
################################################################################

resource "aws_cloudtrail" "this" {
  name                          = local.trail_name
  s3_bucket_name                = module.s3_cloudtrail.s3_bucket_id
  is_multi_region_trail         = true
  include_global_service_events = true
  enable_log_file_validation    = true
  kms_key_id                    = module.kms_logs.key_arn

  advanced_event_selector {
    name = "Management events"

    field_selector {
      field  = "eventCategory"
      equals = ["Management"]
    }
  }

  dynamic "advanced_event_selector" {
    for_each = var.cloudtrail_s3_data_events ? [1] : []

    content {
      name = "Objects of the blob and audit buckets"

      field_selector {
        field  = "eventCategory"
        equals = ["Data"]
      }

      field_selector {
        field  = "resources.type"
        equals = ["AWS::S3::Object"]
      }

      field_selector {
        field       = "resources.ARN"
        starts_with = ["${module.s3_blobs.s3_bucket_arn}/", "${module.s3_audit.s3_bucket_arn}/"]
      }
    }
  }

  # The bucket policy that lets CloudTrail write must exist first.
  depends_on = [module.s3_cloudtrail]
}

################################################################################
# Alarms go to one SNS topic, encrypted with the logs key, with an e-mail
# subscription.
################################################################################

module "sns_alarms" {
  source  = "terraform-aws-modules/sns/aws"
  version = "7.1.0"

  name              = "${local.name}-alarms"
  kms_master_key_id = module.kms_logs.key_arn

  topic_policy_statements = {
    cloudwatch = {
      sid     = "CloudWatchAlarms"
      actions = ["sns:Publish"]
      principals = [{
        type        = "Service"
        identifiers = ["cloudwatch.amazonaws.com"]
      }]
      condition = [{
        test     = "ArnLike"
        variable = "aws:SourceArn"
        values   = ["arn:${local.partition}:cloudwatch:${var.region}:${local.account_id}:alarm:*"]
      }]
    }
  }

  subscriptions = {
    email = {
      protocol = "email"
      endpoint = var.alarm_email
    }
  }
}

locals {
  alarm_actions = [module.sns_alarms.topic_arn]
}

module "alarm_alb_5xx" {
  source  = "terraform-aws-modules/cloudwatch/aws//modules/metric-alarm"
  version = "5.7.2"

  alarm_name          = "${local.name}-5xx-rate"
  alarm_description   = "More than ${var.alarm_5xx_percent}% of requests answered 5xx (load balancer and server) in 2 of 3 five-minute periods"
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_5xx_percent
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query = [
    {
      id          = "rate"
      label       = "5xx share of requests (%)"
      expression  = "IF(requests > 0, 100 * (FILL(elb5xx, 0) + FILL(target5xx, 0)) / requests, 0)"
      return_data = true
    },
    {
      id = "elb5xx"
      metric = [{
        namespace   = "AWS/ApplicationELB"
        metric_name = "HTTPCode_ELB_5XX_Count"
        period      = 300
        stat        = "Sum"
        dimensions  = { LoadBalancer = module.alb.arn_suffix }
      }]
    },
    {
      id = "target5xx"
      metric = [{
        namespace   = "AWS/ApplicationELB"
        metric_name = "HTTPCode_Target_5XX_Count"
        period      = 300
        stat        = "Sum"
        dimensions  = { LoadBalancer = module.alb.arn_suffix }
      }]
    },
    {
      id = "requests"
      metric = [{
        namespace   = "AWS/ApplicationELB"
        metric_name = "RequestCount"
        period      = 300
        stat        = "Sum"
        dimensions  = { LoadBalancer = module.alb.arn_suffix }
      }]
    },
  ]
}

module "alarm_alb_p99" {
  source  = "terraform-aws-modules/cloudwatch/aws//modules/metric-alarm"
  version = "5.7.2"

  alarm_name          = "${local.name}-response-time-p99"
  alarm_description   = "99th percentile of the server's time to first byte above ${var.alarm_p99_seconds} s in 3 five-minute periods"
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_p99_seconds
  evaluation_periods  = 3
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  namespace          = "AWS/ApplicationELB"
  metric_name        = "TargetResponseTime"
  extended_statistic = "p99"
  period             = 300
  dimensions         = { LoadBalancer = module.alb.arn_suffix }
}

module "alarm_no_healthy_tasks" {
  source  = "terraform-aws-modules/cloudwatch/aws//modules/metric-alarm"
  version = "5.7.2"

  alarm_name          = "${local.name}-no-healthy-tasks"
  alarm_description   = "No task answers /readyz at the load balancer"
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  evaluation_periods  = 2
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  namespace   = "AWS/ApplicationELB"
  metric_name = "HealthyHostCount"
  statistic   = "Minimum"
  period      = 60
  dimensions = {
    LoadBalancer = module.alb.arn_suffix
    TargetGroup  = module.alb.target_groups["server"].arn_suffix
  }
}

module "alarm_db_cpu" {
  source  = "terraform-aws-modules/cloudwatch/aws//modules/metric-alarm"
  version = "5.7.2"

  for_each = toset(local.db_instance_keys)

  alarm_name          = "${local.name}-db-${each.key}-cpu"
  alarm_description   = "Aurora instance ${each.key}: CPU above ${var.alarm_db_cpu_percent}% for 15 minutes"
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_db_cpu_percent
  evaluation_periods  = 3
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  namespace   = "AWS/RDS"
  metric_name = "CPUUtilization"
  statistic   = "Average"
  period      = 300
  dimensions  = { DBInstanceIdentifier = module.aurora.cluster_instances[each.key].identifier }
}

module "alarm_db_free_local_storage" {
  source  = "terraform-aws-modules/cloudwatch/aws//modules/metric-alarm"
  version = "5.7.2"

  for_each = toset(local.db_instance_keys)

  alarm_name          = "${local.name}-db-${each.key}-free-local-storage"
  alarm_description   = "Aurora instance ${each.key}: less than ${var.alarm_db_free_local_storage_gib} GiB of local storage free"
  comparison_operator = "LessThanThreshold"
  threshold           = var.alarm_db_free_local_storage_gib * 1024 * 1024 * 1024
  evaluation_periods  = 2
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  namespace   = "AWS/RDS"
  metric_name = "FreeLocalStorage"
  statistic   = "Minimum"
  period      = 300
  dimensions  = { DBInstanceIdentifier = module.aurora.cluster_instances[each.key].identifier }
}

module "alarm_db_freeable_memory" {
  source  = "terraform-aws-modules/cloudwatch/aws//modules/metric-alarm"
  version = "5.7.2"

  for_each = toset(local.db_instance_keys)

  alarm_name          = "${local.name}-db-${each.key}-freeable-memory"
  alarm_description   = "Aurora instance ${each.key}: less than ${var.alarm_db_freeable_memory_mib} MiB of memory free"
  comparison_operator = "LessThanThreshold"
  threshold           = var.alarm_db_freeable_memory_mib * 1024 * 1024
  evaluation_periods  = 3
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  namespace   = "AWS/RDS"
  metric_name = "FreeableMemory"
  statistic   = "Minimum"
  period      = 300
  dimensions  = { DBInstanceIdentifier = module.aurora.cluster_instances[each.key].identifier }
}
