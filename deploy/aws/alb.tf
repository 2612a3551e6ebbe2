################################################################################
# Application Load Balancer: HTTPS only (port 80 answers with a redirect),
# TLS 1.2 or newer, invalid headers dropped, WAF in front.
################################################################################

module "alb" {
  source  = "terraform-aws-modules/alb/aws"
  version = "10.5.0"

  name    = local.name
  vpc_id  = module.vpc.vpc_id
  subnets = module.vpc.public_subnets

  enable_deletion_protection = var.alb_deletion_protection
  drop_invalid_header_fields = true
  idle_timeout               = var.alb_idle_timeout
  # healthhubd believes X-Forwarded-For only from the public subnets
  # (HEALTHHUB_TRUSTED_PROXIES); the load balancer appends the client's address.
  xff_header_processing_mode = "append"

  access_logs = var.alb_access_logs ? {
    bucket  = module.s3_alb_logs.s3_bucket_id
    enabled = true
    prefix  = "alb"
  } : null

  security_group_name = "${local.name}-alb"
  security_group_ingress_rules = {
    https = {
      description = "HTTPS from anywhere"
      from_port   = 443
      to_port     = 443
      ip_protocol = "tcp"
      cidr_ipv4   = "0.0.0.0/0"
    }
    http_redirect = {
      description = "HTTP from anywhere, answered only with a redirect to HTTPS"
      from_port   = 80
      to_port     = 80
      ip_protocol = "tcp"
      cidr_ipv4   = "0.0.0.0/0"
    }
  }
  security_group_egress_rules = {
    tasks = {
      description                  = "To the server's tasks"
      from_port                    = var.container_port
      to_port                      = var.container_port
      ip_protocol                  = "tcp"
      referenced_security_group_id = module.ecs_service.security_group_id
    }
  }

  listeners = {
    http_redirect = {
      port     = 80
      protocol = "HTTP"
      redirect = {
        port        = "443"
        protocol    = "HTTPS"
        status_code = "HTTP_301"
      }
    }
    https = {
      port            = 443
      protocol        = "HTTPS"
      ssl_policy      = "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"
      certificate_arn = var.certificate_arn
      forward = {
        target_group_key = "server"
      }
      routing_http_response_strict_transport_security_header_value = "max-age=31536000; includeSubDomains"
      routing_http_response_server_enabled                         = false
    }
  }

  target_groups = {
    server = {
      name_prefix          = "hh-"
      protocol             = "HTTP"
      port                 = var.container_port
      target_type          = "ip"
      deregistration_delay = 30
      # ECS registers the tasks itself.
      create_attachment = false
      health_check = {
        enabled             = true
        path                = "/readyz"
        port                = "traffic-port"
        protocol            = "HTTP"
        matcher             = "200"
        interval            = 15
        timeout             = 5
        healthy_threshold   = 2
        unhealthy_threshold = 3
      }
    }
  }

  associate_web_acl = true
  web_acl_arn       = aws_wafv2_web_acl.this.arn

  route53_records = var.route53_zone_id == null ? null : {
    app = {
      zone_id = var.route53_zone_id
      name    = var.domain_name
      type    = "A"
    }
  }
}

################################################################################
# WAF: AWS managed rule groups and a per-address rate limit.
################################################################################

resource "aws_wafv2_web_acl" "this" {
  name        = local.name
  description = "HealthHub ${var.environment}: managed rules and a rate limit"
  scope       = "REGIONAL"

  default_action {
    allow {}
  }

  rule {
    name     = "rate-limit-per-ip"
    priority = 0

    action {
      block {}
    }

    statement {
      rate_based_statement {
        limit                 = var.waf_rate_limit
        aggregate_key_type    = "IP"
        evaluation_window_sec = 300
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-rate-limit"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-ip-reputation"
    priority = 10

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesAmazonIpReputationList"
        vendor_name = "AWS"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-ip-reputation"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-common"
    priority = 20

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesCommonRuleSet"
        vendor_name = "AWS"

        # Uploads (images, recordings, documents) are larger than the 8 KB
        # body this rule allows; the server bounds its own request sizes.
        rule_action_override {
          name = "SizeRestrictions_BODY"
          action_to_use {
            count {}
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-common"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-known-bad-inputs"
    priority = 30

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
        vendor_name = "AWS"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-known-bad-inputs"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = local.name
    sampled_requests_enabled   = true
  }
}

# WAF logs name the request but not its credentials or search terms.
resource "aws_cloudwatch_log_group" "waf" {
  name              = "aws-waf-logs-${local.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = module.kms_logs.key_arn
}

resource "aws_wafv2_web_acl_logging_configuration" "this" {
  resource_arn            = aws_wafv2_web_acl.this.arn
  log_destination_configs = [aws_cloudwatch_log_group.waf.arn]

  redacted_fields {
    single_header {
      name = "authorization"
    }
  }

  redacted_fields {
    single_header {
      name = "cookie"
    }
  }

  redacted_fields {
    query_string {}
  }
}
