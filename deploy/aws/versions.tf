terraform {
  # rds-aurora 10.x needs Terraform 1.11.1 or newer.
  required_version = ">= 1.11.1"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # The newest pinned module (s3-bucket 5.15.4) needs 6.42 or newer.
      version = "~> 6.42"
    }
  }

  # State lives in an S3 bucket made beforehand (see README.md); its name,
  # key and region are given to `terraform init -backend-config=...`.
  backend "s3" {}
}
