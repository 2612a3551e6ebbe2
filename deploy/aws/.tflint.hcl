# tflint with its bundled Terraform rules only: no plugin is downloaded and
# module calls are not fetched, so it runs without network.
config {
  call_module_type = "none"
}

plugin "terraform" {
  enabled = true
  preset  = "all"
}
