data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_availability_zones" "available" {
  state = "available"

  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

locals {
  name       = "${var.name}-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  azs = slice(data.aws_availability_zones.available.names, 0, var.az_count)

  # /24s for the load balancer and the database, /20s for the tasks and the
  # interface endpoints; the first /20 of the VPC holds the /24s.
  public_subnets   = [for i in range(var.az_count) : cidrsubnet(var.vpc_cidr, 8, i)]
  database_subnets = [for i in range(var.az_count) : cidrsubnet(var.vpc_cidr, 8, i + 8)]
  private_subnets  = [for i in range(var.az_count) : cidrsubnet(var.vpc_cidr, 4, i + 1)]

  # Aurora instances: any of them may be the writer; the others are readers
  # that take over when it fails.
  db_instance_keys = [for i in range(var.db_instance_count) : tostring(i + 1)]
  db_family        = "aurora-postgresql${split(".", var.db_engine_version)[0]}"

  bedrock_region = coalesce(var.bedrock_region, var.region)

  # A model id with a geography prefix (us., eu., apac., global., ...) names a
  # cross-region inference profile: the task may call the profile and the
  # foundation model in each region the profile routes to. Any other id is a
  # foundation model called in bedrock_region.
  inference_profile_prefix = "^(us|us-gov|eu|apac|jp|au|ca|global)\\."
  bedrock_model_ids        = compact([var.bedrock_model_id, var.embeddings_model_id])
  bedrock_model_arns = distinct(flatten([
    for id in local.bedrock_model_ids : can(regex(local.inference_profile_prefix, id)) ? concat(
      ["arn:${local.partition}:bedrock:${local.bedrock_region}:${local.account_id}:inference-profile/${id}"],
      [for r in var.bedrock_inference_profile_regions : "arn:${local.partition}:bedrock:${r}::foundation-model/${replace(id, "/${local.inference_profile_prefix}/", "")}"],
    ) : ["arn:${local.partition}:bedrock:${local.bedrock_region}::foundation-model/${id}"]
  ]))

  data_dir   = "/var/lib/healthhub"
  log_group  = "/healthhub/${local.name}/server"
  trail_name = "${local.name}-trail"
  trail_arn  = "arn:${local.partition}:cloudtrail:${var.region}:${local.account_id}:trail/${local.trail_name}"
}
