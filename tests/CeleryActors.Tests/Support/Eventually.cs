namespace CeleryActors.Tests.Support;

/// <summary>
/// Retries an asynchronous assertion until it passes or its deadline passes, then lets the last failure through:
/// the async counterpart of the TestKit's AwaitAssert for tests that talk to processes over HTTP.
/// </summary>
public static class Eventually
{
    public static async Task Holds(Func<Task> assertion, TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            try
            {
                await assertion();
                return;
            }
            catch (Exception) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
        }
    }

    /// <summary>The same for an assertion on state this process holds.</summary>
    public static Task Holds(Action assertion, TimeSpan? within = null) => Holds(() =>
    {
        assertion();
        return Task.CompletedTask;
    }, within);
}
