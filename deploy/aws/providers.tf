provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      Application = "healthhub"
      Environment = var.environment
      ManagedBy   = "terraform"
    })
  }
}
