namespace Quantization.Nn;

/// <summary>Switches gradient recording on and off for the current thread, like PyTorch's <c>torch.no_grad()</c>.</summary>
public static class Autograd
{
    [ThreadStatic]
    private static int t_disabledDepth;

    /// <summary>Whether operations on variables record the graph on this thread.</summary>
    public static bool IsEnabled => t_disabledDepth == 0;

    /// <summary>Turns recording off until the returned scope is disposed: <c>using (Autograd.NoGrad()) { ... }</c>.</summary>
    public static IDisposable NoGrad()
    {
        t_disabledDepth++;
        return new Scope();
    }

    private sealed class Scope : IDisposable
    {
        private bool _disposed;

        public void Dispose()
        {
            if (_disposed)
                return;
            _disposed = true;
            t_disabledDepth--;
        }
    }
}
