################################################################################
# VPC: public subnets for the load balancer, private ones for the tasks,
# database subnets without a route to the internet.
################################################################################

module "vpc" {
  source  = "terraform-aws-modules/vpc/aws"
  version = "6.6.0"

  name = local.name
  cidr = var.vpc_cidr
  azs  = local.azs

  public_subnets   = local.public_subnets
  private_subnets  = local.private_subnets
  database_subnets = local.database_subnets

  create_database_subnet_group       = true
  create_database_subnet_route_table = true

  enable_nat_gateway     = true
  single_nat_gateway     = var.single_nat_gateway
  one_nat_gateway_per_az = !var.single_nat_gateway

  enable_dns_hostnames = true
  enable_dns_support   = true

  # The default security group allows nothing.
  manage_default_security_group  = true
  default_security_group_ingress = []
  default_security_group_egress  = []

  enable_flow_log                                 = true
  create_flow_log_cloudwatch_log_group            = true
  create_flow_log_cloudwatch_iam_role             = true
  flow_log_cloudwatch_log_group_kms_key_id        = module.kms_logs.key_arn
  flow_log_cloudwatch_log_group_retention_in_days = var.log_retention_days
}

################################################################################
# VPC endpoints: the AWS APIs the tasks call are reached inside the VPC, so
# patient data (blobs, prompts to the model, secrets, keys) never crosses the
# NAT gateway.
################################################################################

module "vpc_endpoints" {
  source  = "terraform-aws-modules/vpc/aws//modules/vpc-endpoints"
  version = "6.6.0"

  vpc_id     = module.vpc.vpc_id
  subnet_ids = module.vpc.private_subnets

  create_security_group      = true
  security_group_name_prefix = "${local.name}-endpoints-"
  security_group_description = "HTTPS to the interface endpoints from inside the VPC"
  security_group_rules = {
    https_from_vpc = {
      description = "HTTPS from the VPC"
      type        = "ingress"
      protocol    = "tcp"
      from_port   = 443
      to_port     = 443
      cidr_blocks = [var.vpc_cidr]
    }
  }

  endpoints = {
    s3 = {
      service         = "s3"
      service_type    = "Gateway"
      route_table_ids = module.vpc.private_route_table_ids
      tags            = { Name = "${local.name}-s3" }
    }
    ecr_api = {
      service             = "ecr.api"
      private_dns_enabled = true
      tags                = { Name = "${local.name}-ecr-api" }
    }
    ecr_dkr = {
      service             = "ecr.dkr"
      private_dns_enabled = true
      tags                = { Name = "${local.name}-ecr-dkr" }
    }
    logs = {
      service             = "logs"
      private_dns_enabled = true
      tags                = { Name = "${local.name}-logs" }
    }
    secretsmanager = {
      service             = "secretsmanager"
      private_dns_enabled = true
      tags                = { Name = "${local.name}-secretsmanager" }
    }
    kms = {
      service             = "kms"
      private_dns_enabled = true
      tags                = { Name = "${local.name}-kms" }
    }
    bedrock_runtime = {
      service             = "bedrock-runtime"
      private_dns_enabled = true
      tags                = { Name = "${local.name}-bedrock-runtime" }
    }
  }
}
