// Package tfcheck reads a Terraform root module with the HCL parser and checks
// the hosted deployment's rules on it without Terraform, providers or
// network: it walks blocks and attributes, evaluates what is literal (and
// variables' defaults and locals built from them), and for references looks
// only at the names they traverse.
package tfcheck

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// File is one parsed .tf file.
type File struct {
	Name string
	Src  []byte
	Body *hclsyntax.Body
}

// Config is a root module: its files and its top-level blocks by kind.
type Config struct {
	Files     []*File
	Variables map[string]*hclsyntax.Block
	Locals    map[string]*hclsyntax.Attribute
	Modules   []*hclsyntax.Block
	Resources []*hclsyntax.Block
	Data      []*hclsyntax.Block
	Outputs   []*hclsyntax.Block

	ctx *hcl.EvalContext
}

// Load parses every .tf file of dir.
func Load(dir string) (*Config, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no .tf files in %s", dir)
	}
	srcs := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		srcs[filepath.Base(n)] = b
	}
	return Parse(srcs)
}

// Parse parses the given files (name to contents) as one module.
func Parse(srcs map[string][]byte) (*Config, error) {
	names := make([]string, 0, len(srcs))
	for n := range srcs {
		names = append(names, n)
	}
	sort.Strings(names)
	c := &Config{Variables: map[string]*hclsyntax.Block{}, Locals: map[string]*hclsyntax.Attribute{}}
	for _, n := range names {
		f, diags := hclsyntax.ParseConfig(srcs[n], n, hcl.InitialPos)
		if diags.HasErrors() {
			return nil, fmt.Errorf("parse %s: %s", n, diags.Error())
		}
		body := f.Body.(*hclsyntax.Body)
		c.Files = append(c.Files, &File{Name: n, Src: srcs[n], Body: body})
		for _, b := range body.Blocks {
			switch b.Type {
			case "variable":
				c.Variables[label(b, 0)] = b
			case "locals":
				for name, a := range b.Body.Attributes {
					c.Locals[name] = a
				}
			case "module":
				c.Modules = append(c.Modules, b)
			case "resource":
				c.Resources = append(c.Resources, b)
			case "data":
				c.Data = append(c.Data, b)
			case "output":
				c.Outputs = append(c.Outputs, b)
			}
		}
	}
	for _, list := range [][]*hclsyntax.Block{c.Modules, c.Resources, c.Data, c.Outputs} {
		sort.SliceStable(list, func(i, j int) bool { return before(list[i].Range(), list[j].Range()) })
	}
	c.ctx = c.evalContext()
	return c, nil
}

func before(a, b hcl.Range) bool {
	if a.Filename != b.Filename {
		return a.Filename < b.Filename
	}
	return a.Start.Byte < b.Start.Byte
}

func label(b *hclsyntax.Block, i int) string {
	if i < len(b.Labels) {
		return b.Labels[i]
	}
	return ""
}

// evalContext holds the variables' defaults, the locals (as far as they
// evaluate from those) and a few of Terraform's functions. Anything else
// (module outputs, resources, data sources) is unknown.
func (c *Config) evalContext() *hcl.EvalContext {
	vars := map[string]cty.Value{}
	for name, b := range c.Variables {
		vars[name] = cty.DynamicVal
		if a, ok := b.Body.Attributes["default"]; ok {
			if v, diags := a.Expr.Value(nil); !diags.HasErrors() {
				vars[name] = v
			}
		}
	}
	toSet := stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType))
	// Whatever is only known after apply is unknown, not an error, so an
	// expression that mixes it with known parts keeps them.
	known := map[string]cty.Value{"var": cty.ObjectVal(vars), "local": cty.DynamicVal}
	for _, root := range []string{"module", "data", "path", "terraform", "count", "each", "self"} {
		known[root] = cty.DynamicVal
	}
	for _, r := range c.Resources {
		known[label(r, 0)] = cty.DynamicVal
	}
	ctx := &hcl.EvalContext{
		Variables: known,
		Functions: map[string]function.Function{
			"can": tryfunc.CanFunc, "try": tryfunc.TryFunc,
			"coalesce": stdlib.CoalesceFunc, "compact": stdlib.CompactFunc, "concat": stdlib.ConcatFunc,
			"contains": stdlib.ContainsFunc, "distinct": stdlib.DistinctFunc, "flatten": stdlib.FlattenFunc,
			"join": stdlib.JoinFunc, "keys": stdlib.KeysFunc, "length": stdlib.LengthFunc, "max": stdlib.MaxFunc,
			"merge": stdlib.MergeFunc, "range": stdlib.RangeFunc, "regex": stdlib.RegexFunc, "replace": stdlib.ReplaceFunc,
			"slice": stdlib.SliceFunc, "split": stdlib.SplitFunc, "trim": stdlib.TrimFunc,
			"tostring": stdlib.MakeToFunc(cty.String), "tonumber": stdlib.MakeToFunc(cty.Number), "toset": toSet,
			"cidrsubnet": unknownString,
		},
	}
	// Locals may use each other: evaluate them until nothing changes.
	locals := map[string]cty.Value{}
	for name := range c.Locals {
		locals[name] = cty.DynamicVal
	}
	for range len(c.Locals) + 1 {
		ctx.Variables["local"] = cty.ObjectVal(locals)
		changed := false
		for name, a := range c.Locals {
			v, _ := a.Expr.Value(ctx)
			if !v.RawEquals(locals[name]) {
				locals[name], changed = v, true
			}
		}
		if !changed {
			break
		}
	}
	ctx.Variables["local"] = cty.ObjectVal(locals)
	return ctx
}

// unknownString stands for a function whose result this package does not
// compute (its arguments may still be checked elsewhere).
var unknownString = function.New(&function.Spec{
	VarParam: &function.Parameter{Name: "args", Type: cty.DynamicPseudoType, AllowUnknown: true, AllowNull: true, AllowDynamicType: true},
	Type:     function.StaticReturnType(cty.String),
	Impl: func([]cty.Value, cty.Type) (cty.Value, error) {
		return cty.UnknownVal(cty.String), nil
	},
})

// Value evaluates expr as far as it can; a part that names a module,
// resource or data source is unknown.
func (c *Config) Value(expr hclsyntax.Expression) cty.Value {
	if expr == nil {
		return cty.NullVal(cty.DynamicPseudoType)
	}
	v, _ := expr.Value(c.ctx)
	return v
}

// Bool reports expr's value when it is a known bool.
func (c *Config) Bool(expr hclsyntax.Expression) (value, known bool) {
	v := c.Value(expr)
	if !v.IsWhollyKnown() || v.IsNull() {
		return false, false
	}
	if v.Type() == cty.String {
		switch v.AsString() {
		case "true":
			return true, true
		case "false":
			return false, true
		}
		return false, false
	}
	if v.Type() != cty.Bool {
		return false, false
	}
	return v.True(), true
}

// Number reports expr's value when it is a known number.
func (c *Config) Number(expr hclsyntax.Expression) (float64, bool) {
	v := c.Value(expr)
	if !v.IsWhollyKnown() || v.IsNull() {
		return 0, false
	}
	if v.Type() == cty.String {
		var f float64
		if _, err := fmt.Sscan(v.AsString(), &f); err == nil {
			return f, true
		}
		return 0, false
	}
	if v.Type() != cty.Number {
		return 0, false
	}
	f, _ := v.AsBigFloat().Float64()
	return f, true
}

// String reports expr's value when it is a known string.
func (c *Config) String(expr hclsyntax.Expression) (string, bool) {
	v := c.Value(expr)
	if !v.IsWhollyKnown() || v.IsNull() || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

// Strings reports the known strings of expr: a string, or the known string
// elements of a list, set or tuple.
func (c *Config) Strings(expr hclsyntax.Expression) []string {
	v := c.Value(expr)
	return knownStrings(v)
}

func knownStrings(v cty.Value) []string {
	if v.IsNull() || !v.IsKnown() {
		return nil
	}
	if v.Type() == cty.String {
		return []string{v.AsString()}
	}
	if !v.CanIterateElements() {
		return nil
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		out = append(out, knownStrings(e)...)
	}
	return out
}

// Length reports the number of elements of expr's value when it is known.
func (c *Config) Length(expr hclsyntax.Expression) (int, bool) {
	v := c.Value(expr)
	if v.IsNull() || !v.IsKnown() || !v.CanIterateElements() {
		return 0, false
	}
	return v.LengthInt(), true
}

// Refs lists the names expr refers to, as dotted paths without indexes
// ("module.kms.key_arn", "var.name", "local.x", "aws_iam_role.task.arn").
func Refs(expr hclsyntax.Expression) []string {
	if expr == nil {
		return nil
	}
	var out []string
	for _, t := range expr.Variables() {
		var parts []string
		for _, step := range t {
			switch s := step.(type) {
			case hcl.TraverseRoot:
				parts = append(parts, s.Name)
			case hcl.TraverseAttr:
				parts = append(parts, s.Name)
			}
		}
		out = append(out, strings.Join(parts, "."))
	}
	return out
}

// RefersTo reports whether expr refers to something under prefix (such as
// "module.kms_blobs" or "aws_wafv2_web_acl").
func RefersTo(expr hclsyntax.Expression, prefix string) bool {
	for _, r := range Refs(expr) {
		if r == prefix || strings.HasPrefix(r, prefix+".") {
			return true
		}
	}
	return false
}

// Source is a module block's source address.
func Source(m *hclsyntax.Block) string {
	if a, ok := m.Body.Attributes["source"]; ok {
		if v, diags := a.Expr.Value(nil); !diags.HasErrors() && v.Type() == cty.String && v.IsKnown() && !v.IsNull() {
			return v.AsString()
		}
	}
	return ""
}

// ModulesFrom lists the module blocks whose source is the registry module
// name ("terraform-aws-modules/alb/aws"), with submodule when sub is not
// empty ("modules/service").
func (c *Config) ModulesFrom(name, sub string) []*hclsyntax.Block {
	want := name
	if sub != "" {
		want += "//" + sub
	}
	var out []*hclsyntax.Block
	for _, m := range c.Modules {
		if Source(m) == want {
			out = append(out, m)
		}
	}
	return out
}

// Module is the module block called name.
func (c *Config) Module(name string) *hclsyntax.Block {
	for _, m := range c.Modules {
		if label(m, 0) == name {
			return m
		}
	}
	return nil
}

// ResourcesOf lists the resource blocks of a type.
func (c *Config) ResourcesOf(typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, r := range c.Resources {
		if label(r, 0) == typ {
			out = append(out, r)
		}
	}
	return out
}

// DataBlock is the data block of type and name.
func (c *Config) DataBlock(typ, name string) *hclsyntax.Block {
	for _, d := range c.Data {
		if label(d, 0) == typ && label(d, 1) == name {
			return d
		}
	}
	return nil
}

// Attr is the expression of a block body's attribute, or nil.
func Attr(b *hclsyntax.Body, name string) hclsyntax.Expression {
	if a, ok := b.Attributes[name]; ok {
		return a.Expr
	}
	return nil
}

// Item is the value of key in an object constructor; through a for
// expression it is the key of each element, and through a conditional or
// merge() it is the first branch or argument that has the key.
func (c *Config) Item(expr hclsyntax.Expression, key string) hclsyntax.Expression {
	switch e := expr.(type) {
	case *hclsyntax.ObjectConsExpr:
		for _, it := range e.Items {
			if c.keyName(it.KeyExpr) == key {
				return it.ValueExpr
			}
		}
	case *hclsyntax.ForExpr:
		return c.Item(e.ValExpr, key)
	case *hclsyntax.ConditionalExpr:
		if v := c.Item(e.TrueResult, key); v != nil {
			return v
		}
		return c.Item(e.FalseResult, key)
	case *hclsyntax.FunctionCallExpr:
		if e.Name == "merge" {
			for i := len(e.Args) - 1; i >= 0; i-- {
				if v := c.Item(e.Args[i], key); v != nil {
					return v
				}
			}
		}
	case *hclsyntax.ParenthesesExpr:
		return c.Item(e.Expression, key)
	}
	return nil
}

// Path follows keys through nested object constructors.
func (c *Config) Path(expr hclsyntax.Expression, keys ...string) hclsyntax.Expression {
	for _, k := range keys {
		if expr == nil {
			return nil
		}
		expr = c.Item(expr, k)
	}
	return expr
}

// Entry is one key and value of a map written in the configuration.
type Entry struct {
	Key   string
	Value hclsyntax.Expression
}

// Entries lists the entries of a map or object constructor (through a
// conditional, both branches; through merge(), every argument; a for
// expression gives one entry, "*", for its value), or the elements of a
// tuple constructor (keys "0", "1", ...).
func (c *Config) Entries(expr hclsyntax.Expression) []Entry {
	switch e := expr.(type) {
	case *hclsyntax.ObjectConsExpr:
		var out []Entry
		for _, it := range e.Items {
			out = append(out, Entry{c.keyName(it.KeyExpr), it.ValueExpr})
		}
		return out
	case *hclsyntax.TupleConsExpr:
		var out []Entry
		for i, x := range e.Exprs {
			out = append(out, Entry{fmt.Sprint(i), x})
		}
		return out
	case *hclsyntax.ForExpr:
		return []Entry{{"*", e.ValExpr}}
	case *hclsyntax.ConditionalExpr:
		return append(c.Entries(e.TrueResult), c.Entries(e.FalseResult)...)
	case *hclsyntax.FunctionCallExpr:
		if e.Name == "merge" || e.Name == "concat" {
			var out []Entry
			for _, a := range e.Args {
				out = append(out, c.Entries(a)...)
			}
			return out
		}
	case *hclsyntax.ParenthesesExpr:
		return c.Entries(e.Expression)
	}
	return nil
}

func (c *Config) keyName(k hclsyntax.Expression) string {
	if kw := hcl.ExprAsKeyword(k); kw != "" {
		return kw
	}
	if s, ok := c.String(k); ok {
		return s
	}
	if ok, is := k.(*hclsyntax.ObjectConsKeyExpr); is {
		if s, ok := c.String(ok.Wrapped); ok {
			return s
		}
	}
	return ""
}

// Blocks lists the nested blocks of type in body, including the content of
// dynamic blocks of that type.
func Blocks(body *hclsyntax.Body, typ string) []*hclsyntax.Body {
	var out []*hclsyntax.Body
	for _, b := range body.Blocks {
		switch {
		case b.Type == typ:
			out = append(out, b.Body)
		case b.Type == "dynamic" && label(b, 0) == typ:
			for _, cb := range b.Body.Blocks {
				if cb.Type == "content" {
					out = append(out, cb.Body)
				}
			}
		}
	}
	return out
}

// Finding is one broken rule.
type Finding struct {
	Check   string
	Range   hcl.Range
	Message string
}

func (f Finding) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", f.Range.Filename, f.Range.Start.Line, f.Check, f.Message)
}

// findings collects the findings of one check.
type findings struct {
	check string
	list  []Finding
}

func (f *findings) add(r hcl.Range, format string, args ...any) {
	f.list = append(f.list, Finding{Check: f.check, Range: r, Message: fmt.Sprintf(format, args...)})
}

func name(b *hclsyntax.Block) string {
	return b.Type + " " + strings.Join(b.Labels, ".")
}
