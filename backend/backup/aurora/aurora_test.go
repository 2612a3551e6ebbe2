package aurora_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/healthhub/healthhub/backend/backup/aurora"
	"github.com/healthhub/healthhub/backend/backup/aurora/auroratest"
)

// setup starts the fake with the source cluster healthhub-prod, restorable
// from five days ago to five minutes ago, and an RDS client for it.
func setup(t *testing.T) (*auroratest.Server, *rds.Client, time.Time, time.Time) {
	t.Helper()
	f := auroratest.New()
	now := time.Now().UTC().Truncate(time.Second)
	earliest, latest := now.Add(-5*24*time.Hour), now.Add(-5*time.Minute)
	f.AddCluster(auroratest.Cluster{ID: "healthhub-prod", Status: "available", Engine: "aurora-postgresql", SubnetGroup: "healthhub-db",
		ParameterGroup: "healthhub-pg15", KMSKeyID: "arn:aws:kms:eu-central-1:111122223333:key/source", Earliest: earliest, Latest: latest,
		SecurityGroups: []string{"sg-source"}, MinACU: 0.5, MaxACU: 8})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	client := rds.New(rds.Options{
		Region:           f.Region,
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", ""),
		RetryMaxAttempts: 1,
	})
	return f, client, earliest, latest
}

func TestRestoreToTimeCreatesClusterAndInstance(t *testing.T) {
	f, client, earliest, _ := setup(t)
	target := earliest.Add(36 * time.Hour)
	var progress []string
	res, err := aurora.RestoreToTime(context.Background(), client, aurora.RestoreOptions{
		SourceCluster: "healthhub-prod", Target: target, NewCluster: "healthhub-restore-1", InstanceClass: "db.r6g.large",
		SubnetGroup: "healthhub-restore", SecurityGroups: []string{"sg-aaa", "sg-bbb"},
		KMSKeyID: "arn:aws:kms:eu-central-1:111122223333:key/restore", Tags: map[string]string{"purpose": "restore", "ticket": "dr-7"},
		PollEvery: 5 * time.Millisecond, Progress: func(s string) { progress = append(progress, s) },
	})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if res.Cluster != "healthhub-restore-1" || res.Instance != "healthhub-restore-1-1" || !res.Target.Equal(target) ||
		res.Endpoint != "healthhub-restore-1.cluster-abc.eu-central-1.rds.amazonaws.com" || res.Port != 5432 {
		t.Fatalf("result: got %+v", res)
	}
	restore := f.Call("RestoreDBClusterToPointInTime")
	for k, want := range map[string]string{
		"SourceDBClusterIdentifier": "healthhub-prod", "DBClusterIdentifier": "healthhub-restore-1",
		"RestoreToTime": target.Format(time.RFC3339), "RestoreType": "full-copy", "DBSubnetGroupName": "healthhub-restore",
		"VpcSecurityGroupIds.VpcSecurityGroupId.1": "sg-aaa", "VpcSecurityGroupIds.VpcSecurityGroupId.2": "sg-bbb",
		"KmsKeyId": "arn:aws:kms:eu-central-1:111122223333:key/restore", "DBClusterParameterGroupName": "healthhub-pg15",
		"Tags.Tag.1.Key": "purpose", "Tags.Tag.1.Value": "restore", "Tags.Tag.2.Key": "ticket", "Tags.Tag.2.Value": "dr-7",
		"UseLatestRestorableTime": "",
	} {
		if got := restore.Get(k); got != want {
			t.Errorf("RestoreDBClusterToPointInTime %s: got %q, want %q", k, got, want)
		}
	}
	create := f.Call("CreateDBInstance")
	for k, want := range map[string]string{
		"DBInstanceIdentifier": "healthhub-restore-1-1", "DBClusterIdentifier": "healthhub-restore-1", "DBInstanceClass": "db.r6g.large",
		"Engine": "aurora-postgresql", "PubliclyAccessible": "false", "Tags.Tag.1.Key": "purpose",
	} {
		if got := create.Get(k); got != want {
			t.Errorf("CreateDBInstance %s: got %q, want %q", k, got, want)
		}
	}
	acts := strings.Join(f.Actions(), ",")
	if !strings.HasPrefix(acts, "DescribeDBClusters,DescribeDBClusters,RestoreDBClusterToPointInTime,CreateDBInstance,DescribeDBClusters") ||
		!strings.HasSuffix(acts, "DescribeDBInstances") {
		t.Errorf("actions: got %s", acts)
	}
	if p := strings.Join(progress, "\n"); !strings.Contains(p, "cluster healthhub-restore-1: creating") || !strings.Contains(p, "instance healthhub-restore-1-1: available") {
		t.Errorf("progress: got\n%s", p)
	}
	if c, _ := f.Cluster("healthhub-restore-1"); c.Status != "available" || c.KMSKeyID != "arn:aws:kms:eu-central-1:111122223333:key/restore" {
		t.Errorf("new cluster: got %+v", c)
	}
}

func TestRestoreLatestServerless(t *testing.T) {
	f, client, _, latest := setup(t)
	res, err := aurora.RestoreToTime(context.Background(), client, aurora.RestoreOptions{
		SourceCluster: "healthhub-prod", NewCluster: "healthhub-latest", InstanceClass: "db.serverless", PollEvery: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	restore := f.Call("RestoreDBClusterToPointInTime")
	if restore.Get("UseLatestRestorableTime") != "true" || restore.Has("RestoreToTime") {
		t.Errorf("latest: got %v", restore)
	}
	// Placement and capacity follow the source when not given.
	for k, want := range map[string]string{"DBSubnetGroupName": "healthhub-db", "VpcSecurityGroupIds.VpcSecurityGroupId.1": "sg-source",
		"ServerlessV2ScalingConfiguration.MinCapacity": "0.5", "ServerlessV2ScalingConfiguration.MaxCapacity": "8"} {
		if got := restore.Get(k); got != want {
			t.Errorf("%s: got %q, want %q", k, got, want)
		}
	}
	if !res.Target.Equal(latest) {
		t.Errorf("target: got %s, want the latest restorable time %s", res.Target, latest)
	}
}

func TestRestoreRefusesTargetOutsideWindow(t *testing.T) {
	f, client, earliest, latest := setup(t)
	for name, target := range map[string]time.Time{
		"before the earliest restorable time": earliest.Add(-time.Minute),
		"after the latest restorable time":    latest.Add(time.Minute),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := aurora.RestoreToTime(context.Background(), client, aurora.RestoreOptions{
				SourceCluster: "healthhub-prod", Target: target, NewCluster: "healthhub-restore-2", InstanceClass: "db.r6g.large", PollEvery: time.Millisecond,
			})
			var te *aurora.TargetError
			if !errors.Is(err, aurora.ErrOutsideWindow) || !errors.As(err, &te) || !te.Earliest.Equal(earliest) || !te.Latest.Equal(latest) {
				t.Fatalf("got %v, want ErrOutsideWindow with the window", err)
			}
			t.Logf("refused: %v", err)
		})
	}
	if f.Call("RestoreDBClusterToPointInTime") != nil || f.Call("CreateDBInstance") != nil {
		t.Fatalf("a refused target still restored: %v", f.Actions())
	}
}

func TestRestoreRefusesExistingClusterAndMissingSource(t *testing.T) {
	f, client, _, _ := setup(t)
	f.AddCluster(auroratest.Cluster{ID: "healthhub-taken", Status: "available", Engine: "aurora-postgresql"})
	_, err := aurora.RestoreToTime(context.Background(), client, aurora.RestoreOptions{SourceCluster: "healthhub-prod", NewCluster: "healthhub-taken", InstanceClass: "db.r6g.large"})
	if !errors.Is(err, aurora.ErrClusterExists) {
		t.Fatalf("existing cluster: got %v", err)
	}
	_, err = aurora.RestoreToTime(context.Background(), client, aurora.RestoreOptions{SourceCluster: "healthhub-gone", NewCluster: "healthhub-new", InstanceClass: "db.r6g.large"})
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing source: got %v", err)
	}
	for _, o := range []aurora.RestoreOptions{
		{SourceCluster: "healthhub-prod", NewCluster: "bad_name", InstanceClass: "db.r6g.large"},
		{SourceCluster: "healthhub-prod", NewCluster: "healthhub-prod", InstanceClass: "db.r6g.large"},
		{SourceCluster: "healthhub-prod", NewCluster: "healthhub-new", InstanceClass: "large"},
	} {
		if _, err := aurora.RestoreToTime(context.Background(), client, o); err == nil {
			t.Errorf("accepted %+v", o)
		}
	}
	if f.Call("RestoreDBClusterToPointInTime") != nil {
		t.Fatalf("a refused restore still restored: %v", f.Actions())
	}
}

func TestRestoreReportsFailureAndHonoursContext(t *testing.T) {
	f, client, _, _ := setup(t)
	f.SetProgress(2, "incompatible-restore")
	_, err := aurora.RestoreToTime(context.Background(), client, aurora.RestoreOptions{SourceCluster: "healthhub-prod", NewCluster: "healthhub-bad", InstanceClass: "db.r6g.large", PollEvery: time.Millisecond})
	if !errors.Is(err, aurora.ErrFailed) || !strings.Contains(err.Error(), "incompatible-restore") {
		t.Fatalf("failed restore: got %v", err)
	}

	f.SetProgress(1<<30, "available") // never available
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = aurora.RestoreToTime(ctx, client, aurora.RestoreOptions{SourceCluster: "healthhub-prod", NewCluster: "healthhub-slow", InstanceClass: "db.r6g.large", PollEvery: 10 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow restore: got %v, want the context's deadline", err)
	}
}

func TestFakeRefusesUnsignedRequests(t *testing.T) {
	f := auroratest.New()
	srv := httptest.NewServer(f)
	defer srv.Close()
	res, err := http.Post(srv.URL, "application/x-www-form-urlencoded", strings.NewReader("Action=DescribeDBClusters&Version=2014-10-31"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("unsigned request: got %d, want 403", res.StatusCode)
	}
}

func TestParseTags(t *testing.T) {
	got, err := aurora.ParseTags(" purpose = restore ,ticket=dr-7")
	if err != nil || len(got) != 2 || got["purpose"] != "restore" || got["ticket"] != "dr-7" {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"novalue", "=x", "a=1,a=2", "aws:createdBy=me", strings.Repeat("k", 129) + "=v"} {
		if _, err := aurora.ParseTags(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func FuzzParseTags(f *testing.F) {
	f.Add("purpose=restore,ticket=dr-7")
	f.Add("a=,b=c")
	f.Add("aws:x=y")
	f.Fuzz(func(t *testing.T, s string) {
		tags, err := aurora.ParseTags(s)
		if err != nil {
			return
		}
		for k, v := range tags {
			if k == "" || len(k) > 128 || len(v) > 256 || strings.HasPrefix(strings.ToLower(k), "aws:") {
				t.Fatalf("accepted tag %q=%q", k, v)
			}
		}
	})
}
