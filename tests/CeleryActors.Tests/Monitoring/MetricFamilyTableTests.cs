using CeleryActors.Actors.Allocator;
using CeleryActors.Actors.Celery;
using CeleryActors.Actors.Metrics;
using Prometheus;
using Xunit;
using static CeleryActors.Tests.Monitoring.MonitoringAssets;

namespace CeleryActors.Tests.Monitoring;

/// <summary>The family table the dashboards and alerts are checked against is the node's own, label by label.</summary>
public class MetricFamilyTableTests
{
    // The node's families: its shared ones, and the Celery monitor's and the allocator's on the same registry.
    private static Dictionary<string, string[]> LabelsOf(CeleryMetrics metrics) =>
        new object[] { metrics, new CeleryMonitorMetrics(metrics), new AllocatorMetrics(metrics) }
            .SelectMany(owner => owner.GetType().GetProperties().Select(p => p.GetValue(owner)))
            .Select(value => value switch
            {
                Collector c => (Name: c.Name, LabelNames: c.LabelNames),
                IBoundedFamily and var f => (Name: f.Name, LabelNames: (string[])f.GetType().GetProperty("LabelNames")!.GetValue(f)!),
                _ => default,
            })
            .Where(x => x.Name is not null)
            .ToDictionary(x => x.Name, x => x.LabelNames);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Every_family_of_the_node_is_in_the_table_with_its_labels_and_the_broker_label_only_with_several_brokers(bool byBroker)
    {
        var node = LabelsOf(new CeleryMetrics(Metrics.NewCustomRegistry(), 10, byBroker: byBroker));
        Assert.Equal(Families.Select(f => f.Name).Order(), node.Keys.Order());
        foreach (var family in Families)
        {
            var expected = byBroker ? family.Labels : family.Labels.Where(l => l != Broker).ToArray();
            Assert.True(expected.SequenceEqual(node[family.Name]),
                $"{family.Name}: the table says ({string.Join(", ", expected)}), the node has ({string.Join(", ", node[family.Name])})");
        }
    }
}
