################################################################################
# Aurora PostgreSQL: one writer and at least one reader in another zone that
# takes over when the writer fails. RDS makes the master password and keeps
# it in Secrets Manager; it never passes through Terraform or its state.
################################################################################

module "aurora" {
  source  = "terraform-aws-modules/rds-aurora/aws"
  version = "10.2.0"

  name           = local.name
  engine         = "aurora-postgresql"
  engine_version = var.db_engine_version
  storage_type   = var.db_storage_type == "" ? null : var.db_storage_type

  database_name   = var.db_name
  master_username = var.db_master_username

  manage_master_user_password                            = true
  master_user_secret_kms_key_id                          = module.kms_secrets.key_arn
  manage_master_user_password_rotation                   = true
  master_user_password_rotation_automatically_after_days = var.db_password_rotation_days

  storage_encrypted                   = true
  kms_key_id                          = module.kms_database.key_arn
  iam_database_authentication_enabled = var.db_iam_auth

  deletion_protection          = true
  backup_retention_period      = 35
  preferred_backup_window      = var.db_backup_window
  preferred_maintenance_window = var.db_maintenance_window
  copy_tags_to_snapshot        = true
  skip_final_snapshot          = false
  final_snapshot_identifier    = "${local.name}-final"

  enabled_cloudwatch_logs_exports        = ["postgresql"]
  create_cloudwatch_log_group            = true
  cloudwatch_log_group_kms_key_id        = module.kms_logs.key_arn
  cloudwatch_log_group_retention_in_days = var.log_retention_days

  cluster_instance_class      = var.db_instance_class
  cluster_monitoring_interval = 60
  instances = {
    for k in local.db_instance_keys : k => {
      # Engine upgrades are made on purpose, by changing db_engine_version.
      auto_minor_version_upgrade            = false
      performance_insights_enabled          = true
      performance_insights_kms_key_id       = module.kms_database.key_arn
      performance_insights_retention_period = 7
      promotion_tier                        = 1
    }
  }

  vpc_id                 = module.vpc.vpc_id
  create_db_subnet_group = false
  db_subnet_group_name   = module.vpc.database_subnet_group_name
  security_group_ingress_rules = {
    tasks = {
      description                  = "PostgreSQL from the server's tasks"
      referenced_security_group_id = module.ecs_service.security_group_id
    }
  }

  # Connections without TLS are refused.
  cluster_parameter_group = {
    name   = "${local.name}-cluster"
    family = local.db_family
    parameters = [
      {
        name         = "rds.force_ssl"
        value        = "1"
        apply_method = "pending-reboot"
      },
    ]
  }
}
