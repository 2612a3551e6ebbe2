// Package aurora restores the hosted deployment's Aurora PostgreSQL
// cluster to a point in time from its continuous backups, into a new
// cluster (with one instance), through the RDS API. The source cluster is
// only read.
package aurora

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"
)

// Client is the part of the RDS API a restore uses; *rds.Client has it.
type Client interface {
	DescribeDBClusters(context.Context, *rds.DescribeDBClustersInput, ...func(*rds.Options)) (*rds.DescribeDBClustersOutput, error)
	RestoreDBClusterToPointInTime(context.Context, *rds.RestoreDBClusterToPointInTimeInput, ...func(*rds.Options)) (*rds.RestoreDBClusterToPointInTimeOutput, error)
	CreateDBInstance(context.Context, *rds.CreateDBInstanceInput, ...func(*rds.Options)) (*rds.CreateDBInstanceOutput, error)
	DescribeDBInstances(context.Context, *rds.DescribeDBInstancesInput, ...func(*rds.Options)) (*rds.DescribeDBInstancesOutput, error)
}

var _ Client = (*rds.Client)(nil)

var (
	// ErrOutsideWindow is the error of a target outside the source
	// cluster's restorable window (EarliestRestorableTime to
	// LatestRestorableTime).
	ErrOutsideWindow = errors.New("the target is outside the cluster's restorable window")
	// ErrClusterExists is the error of a new cluster name already taken.
	ErrClusterExists = errors.New("a cluster with the new name already exists")
	// ErrFailed is the error of a cluster or instance RDS reports failed.
	ErrFailed = errors.New("RDS reports the restore failed")
)

// RestoreOptions say what to restore, to when, and how the new cluster is
// made. The new cluster is private (its instance is not publicly
// accessible) and encrypted with KMSKeyID when given, else with the
// source's key.
type RestoreOptions struct {
	// SourceCluster is the identifier of the cluster to restore from.
	SourceCluster string
	// Target is the time to restore to; zero is the latest restorable
	// time.
	Target time.Time
	// NewCluster is the identifier of the cluster to create; it must not
	// exist. Instance names its writer instance (default NewCluster-1).
	NewCluster, Instance string
	// InstanceClass is the writer's class (db.r6g.large, or db.serverless
	// for Serverless v2, which keeps the source's capacity range).
	InstanceClass string
	// SubnetGroup and SecurityGroups place the new cluster; empty uses
	// the source's.
	SubnetGroup    string
	SecurityGroups []string
	KMSKeyID       string
	// Tags are set on the new cluster and its instance.
	Tags map[string]string
	// PollEvery is the first wait between status checks; it doubles up to
	// 8 times its value (default 15s, so at most 2 minutes).
	PollEvery time.Duration
	// Progress, when set, hears each status change.
	Progress func(string)
}

// Restored is the new cluster once it and its instance are available.
type Restored struct {
	Cluster, Instance        string
	Endpoint, ReaderEndpoint string
	Port                     int32
	// Target is the time restored to (the latest restorable time at the
	// request, for latest).
	Target time.Time
	Took   time.Duration
}

// TargetError is a refused target with the window it had to be in.
type TargetError struct {
	Target, Earliest, Latest time.Time
}

func (e *TargetError) Error() string {
	return fmt.Sprintf("refusing to restore to %s: %v (%s to %s; or latest)", e.Target.UTC().Format(time.RFC3339),
		ErrOutsideWindow, e.Earliest.UTC().Format(time.RFC3339), e.Latest.UTC().Format(time.RFC3339))
}

func (e *TargetError) Unwrap() error { return ErrOutsideWindow }

// RestoreToTime restores o.SourceCluster to o.Target into the new cluster
// o.NewCluster: it reads the source (DescribeDBClusters) and refuses a
// target outside its restorable window or a new name already taken, then
// calls RestoreDBClusterToPointInTime and CreateDBInstance for the
// writer, and waits, polling with backoff until ctx ends, until both are
// available. A failure after the cluster was created leaves it in place
// (named in the error) for inspection or deletion.
func RestoreToTime(ctx context.Context, c Client, o RestoreOptions) (Restored, error) {
	started := time.Now()
	if err := o.check(); err != nil {
		return Restored{}, err
	}
	if o.Instance == "" {
		o.Instance = o.NewCluster + "-1"
	}
	if o.PollEvery <= 0 {
		o.PollEvery = 15 * time.Second
	}
	var said string
	say := func(format string, args ...any) {
		if msg := fmt.Sprintf(format, args...); o.Progress != nil && msg != said {
			said = msg
			o.Progress(msg)
		}
	}
	src, err := describeCluster(ctx, c, o.SourceCluster)
	if err != nil {
		return Restored{}, fmt.Errorf("source cluster %s: %w", o.SourceCluster, err)
	}
	if src == nil {
		return Restored{}, fmt.Errorf("source cluster %s does not exist", o.SourceCluster)
	}
	earliest, latest := aws.ToTime(src.EarliestRestorableTime), aws.ToTime(src.LatestRestorableTime)
	if earliest.IsZero() || latest.IsZero() {
		return Restored{}, fmt.Errorf("source cluster %s has no restorable window (automated backups off, or the cluster is still being created)", o.SourceCluster)
	}
	in := &rds.RestoreDBClusterToPointInTimeInput{
		DBClusterIdentifier:         aws.String(o.NewCluster),
		SourceDBClusterIdentifier:   aws.String(o.SourceCluster),
		RestoreType:                 aws.String("full-copy"),
		CopyTagsToSnapshot:          aws.Bool(true),
		Tags:                        tags(o.Tags),
		DBClusterParameterGroupName: src.DBClusterParameterGroup,
	}
	target := latest
	if o.Target.IsZero() {
		in.UseLatestRestorableTime = aws.Bool(true)
	} else {
		target = o.Target.UTC().Truncate(time.Second)
		if target.Before(earliest) || target.After(latest) {
			return Restored{}, &TargetError{Target: o.Target, Earliest: earliest, Latest: latest}
		}
		in.RestoreToTime = aws.Time(target)
	}
	if o.SubnetGroup != "" {
		in.DBSubnetGroupName = aws.String(o.SubnetGroup)
	} else {
		in.DBSubnetGroupName = src.DBSubnetGroup
	}
	if len(o.SecurityGroups) > 0 {
		in.VpcSecurityGroupIds = o.SecurityGroups
	} else {
		for _, g := range src.VpcSecurityGroups {
			if g.VpcSecurityGroupId != nil {
				in.VpcSecurityGroupIds = append(in.VpcSecurityGroupIds, *g.VpcSecurityGroupId)
			}
		}
	}
	if o.KMSKeyID != "" {
		in.KmsKeyId = aws.String(o.KMSKeyID)
	}
	if o.InstanceClass == "db.serverless" && src.ServerlessV2ScalingConfiguration != nil {
		in.ServerlessV2ScalingConfiguration = &types.ServerlessV2ScalingConfiguration{
			MinCapacity: src.ServerlessV2ScalingConfiguration.MinCapacity,
			MaxCapacity: src.ServerlessV2ScalingConfiguration.MaxCapacity,
		}
	}
	if existing, err := describeCluster(ctx, c, o.NewCluster); err != nil {
		return Restored{}, fmt.Errorf("new cluster %s: %w", o.NewCluster, err)
	} else if existing != nil {
		return Restored{}, fmt.Errorf("%w: %s (status %s); pick another name", ErrClusterExists, o.NewCluster, aws.ToString(existing.Status))
	}

	say("restoring %s to %s into the new cluster %s", o.SourceCluster, describeTarget(o.Target, latest), o.NewCluster)
	if _, err := c.RestoreDBClusterToPointInTime(ctx, in); err != nil {
		return Restored{}, fmt.Errorf("RestoreDBClusterToPointInTime %s: %w", o.NewCluster, err)
	}
	if _, err := c.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{
		DBInstanceIdentifier: aws.String(o.Instance),
		DBClusterIdentifier:  aws.String(o.NewCluster),
		DBInstanceClass:      aws.String(o.InstanceClass),
		Engine:               src.Engine,
		PubliclyAccessible:   aws.Bool(false),
		Tags:                 tags(o.Tags),
	}); err != nil {
		return Restored{}, fmt.Errorf("CreateDBInstance %s in the new cluster %s (the cluster exists; delete it or add an instance): %w", o.Instance, o.NewCluster, err)
	}

	var cl *types.DBCluster
	if err := poll(ctx, o.PollEvery, func() (bool, error) {
		cl, err = describeCluster(ctx, c, o.NewCluster)
		if err != nil {
			return false, err
		}
		if cl == nil {
			return false, fmt.Errorf("the new cluster %s disappeared", o.NewCluster)
		}
		return settled("cluster "+o.NewCluster, aws.ToString(cl.Status), say)
	}); err != nil {
		return Restored{}, err
	}
	if err := poll(ctx, o.PollEvery, func() (bool, error) {
		out, err := c.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(o.Instance)})
		if err != nil {
			return false, fmt.Errorf("DescribeDBInstances %s: %w", o.Instance, err)
		}
		if len(out.DBInstances) != 1 {
			return false, fmt.Errorf("DescribeDBInstances %s: %d instances", o.Instance, len(out.DBInstances))
		}
		return settled("instance "+o.Instance, aws.ToString(out.DBInstances[0].DBInstanceStatus), say)
	}); err != nil {
		return Restored{}, err
	}
	say("the new cluster %s is available at %s", o.NewCluster, aws.ToString(cl.Endpoint))
	return Restored{Cluster: o.NewCluster, Instance: o.Instance, Endpoint: aws.ToString(cl.Endpoint), ReaderEndpoint: aws.ToString(cl.ReaderEndpoint),
		Port: aws.ToInt32(cl.Port), Target: target, Took: time.Since(started)}, nil
}

func (o RestoreOptions) check() error {
	var problems []string
	for _, f := range []struct{ name, v string }{{"source cluster", o.SourceCluster}, {"new cluster", o.NewCluster}} {
		if !validIdentifier(f.v) {
			problems = append(problems, fmt.Sprintf("the %s %q must be 1-63 letters, digits or hyphens, starting with a letter", f.name, f.v))
		}
	}
	if o.Instance != "" && !validIdentifier(o.Instance) {
		problems = append(problems, fmt.Sprintf("the instance name %q must be 1-63 letters, digits or hyphens, starting with a letter", o.Instance))
	}
	if o.SourceCluster == o.NewCluster && o.SourceCluster != "" {
		problems = append(problems, "the new cluster must have another name than the source")
	}
	if !strings.HasPrefix(o.InstanceClass, "db.") {
		problems = append(problems, fmt.Sprintf("the instance class %q must be an RDS class such as db.r6g.large or db.serverless", o.InstanceClass))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// validIdentifier follows RDS's rule for cluster and instance names.
func validIdentifier(s string) bool {
	if s == "" || len(s) > 63 || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') || strings.HasSuffix(s, "-") || strings.Contains(s, "--") {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func describeTarget(target, latest time.Time) string {
	if target.IsZero() {
		return "the latest restorable time (" + latest.UTC().Format(time.RFC3339) + " or later)"
	}
	return target.UTC().Format(time.RFC3339)
}

// describeCluster is the cluster named id, or nil when there is none.
func describeCluster(ctx context.Context, c Client, id string) (*types.DBCluster, error) {
	out, err := c.DescribeDBClusters(ctx, &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String(id)})
	var nf *types.DBClusterNotFoundFault
	if errors.As(err, &nf) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("DescribeDBClusters: %w", err)
	}
	for i := range out.DBClusters {
		if strings.EqualFold(aws.ToString(out.DBClusters[i].DBClusterIdentifier), id) {
			return &out.DBClusters[i], nil
		}
	}
	return nil, nil
}

// settled reads an RDS status: done when available, an error when it can
// no longer become available, else not yet.
func settled(what, status string, say func(string, ...any)) (bool, error) {
	say("%s: %s", what, status)
	switch status {
	case "available":
		return true, nil
	case "failed", "incompatible-restore", "incompatible-parameters", "incompatible-network", "inaccessible-encryption-credentials",
		"inaccessible-encryption-credentials-recoverable", "restore-error", "storage-full", "deleting", "stopped":
		return false, fmt.Errorf("%w: %s is %s", ErrFailed, what, status)
	}
	return false, nil
}

// poll calls check until it is done or fails, waiting every, then twice
// as long, up to 8 times every, between calls; it stops when ctx ends.
func poll(ctx context.Context, every time.Duration, check func() (bool, error)) error {
	wait := every
	for {
		done, err := check()
		if err != nil || done {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for the restore: %w", ctx.Err())
		case <-t.C:
		}
		if wait < 8*every {
			wait *= 2
		}
	}
}

func tags(m map[string]string) []types.Tag {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]types.Tag, 0, len(m))
	for _, k := range keys {
		out = append(out, types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}

// ParseTags reads "key=value,key2=value2" (the form of a command-line
// flag). Keys are 1-128 characters and may not start with aws:; values up
// to 256.
func ParseTags(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case !ok || k == "":
			return nil, fmt.Errorf("tag %q must be key=value", part)
		case len(k) > 128 || len(v) > 256:
			return nil, fmt.Errorf("tag %q is too long (keys up to 128 characters, values up to 256)", k)
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			return nil, fmt.Errorf("tag %q: keys starting with aws: are reserved", k)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("tag %q is given twice", k)
		}
		out[k] = v
	}
	return out, nil
}
