package aws_test

import (
	"os"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/healthhub/healthhub/deploy/aws/tfcheck"
)

// TestDeploymentRules runs every rule of the hosted deployment on the
// Terraform in this folder.
func TestDeploymentRules(t *testing.T) {
	c, err := tfcheck.Load(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range tfcheck.Checks {
		t.Run(ch.Name, func(t *testing.T) {
			for _, f := range ch.Run(c) {
				t.Error(f)
			}
		})
	}
}

// TestTfvarsExample: the example sets every variable that has no default,
// and nothing the module does not declare.
func TestTfvarsExample(t *testing.T) {
	c, err := tfcheck.Load(".")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("terraform.tfvars.example")
	if err != nil {
		t.Fatal(err)
	}
	f, diags := hclsyntax.ParseConfig(src, "terraform.tfvars.example", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	set := f.Body.(*hclsyntax.Body).Attributes
	for name := range set {
		if _, ok := c.Variables[name]; !ok {
			t.Errorf("terraform.tfvars.example sets %s, which is not a variable", name)
		}
	}
	for name, v := range c.Variables {
		if _, hasDefault := v.Body.Attributes["default"]; !hasDefault {
			if _, ok := set[name]; !ok {
				t.Errorf("terraform.tfvars.example does not set the required variable %s", name)
			}
		}
	}
}
