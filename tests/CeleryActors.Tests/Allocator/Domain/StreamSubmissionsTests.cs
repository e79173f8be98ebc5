using CeleryActors.Actors.Allocator;
using Xunit;

namespace CeleryActors.Tests.Allocator.Domain;

public class StreamSubmissionsTests
{
    [Fact]
    public void An_answer_settles_the_oldest_entry_of_its_task_and_each_entry_once()
    {
        var out_ = new StreamSubmissions();
        Assert.True(out_.Add("tasks:q", "1-0", "q", "t", now: 0));
        Assert.False(out_.Add("tasks:q", "1-0", "q", "t", now: 1)); // out already
        Assert.True(out_.Add("tasks:q", "2-0", "q", "t", now: 2)); // the same task id added again
        Assert.True(out_.Contains("tasks:q", "2-0"));

        Assert.Equal(("tasks:q", "1-0"), out_.Settle("q", "t"));
        Assert.Equal(("tasks:q", "2-0"), out_.Settle("q", "t"));
        Assert.Null(out_.Settle("q", "t")); // somebody else's answer
        Assert.Equal(0, out_.Count);
    }

    [Fact]
    public void Entries_out_too_long_are_given_up_and_a_late_answer_settles_nothing()
    {
        var out_ = new StreamSubmissions();
        out_.Add("tasks:q", "1-0", "q", "old", now: 0);
        out_.Add("tasks:q", "2-0", "q", "new", now: 10_000);
        Assert.Equal(1, out_.GiveUp(cutoff: 5_000));
        Assert.False(out_.Contains("tasks:q", "1-0"));
        Assert.Null(out_.Settle("q", "old"));
        Assert.Equal(("tasks:q", "2-0"), out_.Settle("q", "new"));
        Assert.True(out_.Add("tasks:q", "1-0", "q", "old", now: 20_000)); // claimed and submitted again
    }
}
