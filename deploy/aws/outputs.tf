# Nothing secret here: no password, no secret's ARN or value, no sensitive
# values. The database password stays in Secrets Manager.

output "alb_dns_name" {
  description = "DNS name of the load balancer; point domain_name at it (an alias or CNAME record) unless route53_zone_id is set."
  value       = module.alb.dns_name
}

output "url" {
  description = "Address of HealthHub."
  value       = "https://${var.domain_name}"
}

output "db_cluster_endpoint" {
  description = "Writer endpoint of the Aurora cluster."
  value       = module.aurora.cluster_endpoint
}

output "db_reader_endpoint" {
  description = "Reader endpoint of the Aurora cluster."
  value       = module.aurora.cluster_reader_endpoint
}

output "blob_bucket" {
  description = "Bucket holding the server's blobs."
  value       = module.s3_blobs.s3_bucket_id
}

output "audit_archive_bucket" {
  description = "Bucket of the audit archive (Object Lock, compliance mode, 6 years)."
  value       = module.s3_audit.s3_bucket_id
}

output "cloudtrail_bucket" {
  description = "Bucket CloudTrail writes to."
  value       = module.s3_cloudtrail.s3_bucket_id
}

output "log_group" {
  description = "CloudWatch log group of the server's output (JSON lines)."
  value       = module.ecs_service.container_definitions["healthhubd"].cloudwatch_log_group_name
}

output "ecs_cluster_name" {
  description = "ECS cluster running the service."
  value       = module.ecs_cluster.name
}

output "ecs_service_name" {
  description = "ECS service of healthhubd."
  value       = module.ecs_service.name
}

output "task_subnet_ids" {
  description = "Private subnets of the tasks, for one-off tasks (aws ecs run-task)."
  value       = module.vpc.private_subnets
}

output "task_security_group_id" {
  description = "Security group of the tasks, for one-off tasks (aws ecs run-task)."
  value       = module.ecs_service.security_group_id
}

output "keyring_kms_key_arn" {
  description = "KMS key that wraps the server's encryption keyring (HEALTHHUB_KMS_KEY_ID)."
  value       = module.kms_secrets.key_arn
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms go to."
  value       = module.sns_alarms.topic_arn
}
