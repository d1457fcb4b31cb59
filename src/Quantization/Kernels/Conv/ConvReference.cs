namespace Quantization.Kernels.Conv;

/// <summary>
/// Direct convolutions, the seven nested loops of the definition: the specification the im2col, pointwise and
/// depthwise kernels are tested against. Padding reads the activation zero point, which contributes nothing.
/// </summary>
internal static class ConvReference
{
    /// <summary>
    /// int32 accumulators <c>Σ (x - za) * (w - zw[co])</c> of an INT8 convolution, NCHW in and out.
    /// </summary>
    public static int[] Int8Conv2d(ReadOnlySpan<byte> x, int batch, int height, int width, int za, ReadOnlySpan<sbyte> w, ReadOnlySpan<int> zw, Conv2dGeometry g)
    {
        int oh = g.OutputHeight(height), ow = g.OutputWidth(width);
        int cig = g.InChannelsPerGroup, cog = g.OutChannelsPerGroup;
        var y = new int[batch * g.OutChannels * oh * ow];
        for (int n = 0; n < batch; n++)
        for (int co = 0; co < g.OutChannels; co++)
        for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++)
        {
            int group = co / cog, zwc = zw.Length == 1 ? zw[0] : zw[co], sum = 0;
            for (int c = 0; c < cig; c++)
            for (int kh = 0; kh < g.KernelH; kh++)
            for (int kw = 0; kw < g.KernelW; kw++)
            {
                int ih = i * g.StrideH - g.PadTop + kh * g.DilationH, iw = j * g.StrideW - g.PadLeft + kw * g.DilationW;
                int ci = group * cig + c;
                int xv = ih >= 0 && ih < height && iw >= 0 && iw < width ? x[((n * g.InChannels + ci) * height + ih) * width + iw] : za;
                sum += (xv - za) * (w[((co * cig + c) * g.KernelH + kh) * g.KernelW + kw] - zwc);
            }

            y[((n * g.OutChannels + co) * oh + i) * ow + j] = sum;
        }

        return y;
    }

    /// <summary>A float convolution in double precision (the tolerance oracle), NCHW in and out, with optional bias.</summary>
    public static double[] Conv2d(ReadOnlySpan<float> x, int batch, int height, int width, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Conv2dGeometry g)
    {
        int oh = g.OutputHeight(height), ow = g.OutputWidth(width);
        int cig = g.InChannelsPerGroup, cog = g.OutChannelsPerGroup;
        var y = new double[batch * g.OutChannels * oh * ow];
        for (int n = 0; n < batch; n++)
        for (int co = 0; co < g.OutChannels; co++)
        for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++)
        {
            int group = co / cog;
            double sum = bias.IsEmpty ? 0 : bias[co];
            for (int c = 0; c < cig; c++)
            for (int kh = 0; kh < g.KernelH; kh++)
            for (int kw = 0; kw < g.KernelW; kw++)
            {
                int ih = i * g.StrideH - g.PadTop + kh * g.DilationH, iw = j * g.StrideW - g.PadLeft + kw * g.DilationW;
                if (ih >= 0 && ih < height && iw >= 0 && iw < width)
                    sum += (double)x[((n * g.InChannels + group * cig + c) * height + ih) * width + iw] * w[((co * cig + c) * g.KernelH + kh) * g.KernelW + kw];
            }

            y[((n * g.OutChannels + co) * oh + i) * ow + j] = sum;
        }

        return y;
    }

    /// <summary>int32 accumulators of an INT8 transposed convolution: every input pixel scatters through every tap.</summary>
    public static int[] Int8ConvTranspose2d(ReadOnlySpan<byte> x, int batch, int height, int width, int za, ReadOnlySpan<sbyte> w, ReadOnlySpan<int> zw, ConvTranspose2dGeometry g)
    {
        int oh = g.OutputHeight(height), ow = g.OutputWidth(width);
        int cig = g.InChannelsPerGroup, cog = g.OutChannelsPerGroup;
        var y = new int[batch * g.OutChannels * oh * ow];
        for (int n = 0; n < batch; n++)
        for (int ci = 0; ci < g.InChannels; ci++)
        for (int i = 0; i < height; i++)
        for (int j = 0; j < width; j++)
        for (int c = 0; c < cog; c++)
        for (int kh = 0; kh < g.KernelH; kh++)
        for (int kw = 0; kw < g.KernelW; kw++)
        {
            int o = i * g.StrideH - g.PadTop + kh * g.DilationH, p = j * g.StrideW - g.PadLeft + kw * g.DilationW;
            if (o < 0 || o >= oh || p < 0 || p >= ow)
                continue;
            int co = ci / cig * cog + c;
            int zwc = zw.Length == 1 ? zw[0] : zw[co];
            int xv = x[((n * g.InChannels + ci) * height + i) * width + j] - za;
            y[((n * g.OutChannels + co) * oh + o) * ow + p] += xv * (w[((ci * cog + c) * g.KernelH + kh) * g.KernelW + kw] - zwc);
        }

        return y;
    }

    /// <summary>A float transposed convolution in double precision (the tolerance oracle), NCHW in and out, with optional bias.</summary>
    public static double[] ConvTranspose2d(ReadOnlySpan<float> x, int batch, int height, int width, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, ConvTranspose2dGeometry g)
    {
        int oh = g.OutputHeight(height), ow = g.OutputWidth(width);
        int cig = g.InChannelsPerGroup, cog = g.OutChannelsPerGroup;
        var y = new double[batch * g.OutChannels * oh * ow];
        for (int n = 0; n < batch; n++)
        for (int co = 0; co < g.OutChannels; co++)
        for (int p = 0; p < oh * ow; p++)
            y[(n * g.OutChannels + co) * oh * ow + p] = bias.IsEmpty ? 0 : bias[co];

        for (int n = 0; n < batch; n++)
        for (int ci = 0; ci < g.InChannels; ci++)
        for (int i = 0; i < height; i++)
        for (int j = 0; j < width; j++)
        for (int c = 0; c < cog; c++)
        for (int kh = 0; kh < g.KernelH; kh++)
        for (int kw = 0; kw < g.KernelW; kw++)
        {
            int o = i * g.StrideH - g.PadTop + kh * g.DilationH, p = j * g.StrideW - g.PadLeft + kw * g.DilationW;
            if (o < 0 || o >= oh || p < 0 || p >= ow)
                continue;
            int co = ci / cig * cog + c;
            y[((n * g.OutChannels + co) * oh + o) * ow + p] += (double)x[((n * g.InChannels + ci) * height + i) * width + j] * w[((ci * cog + c) * g.KernelH + kh) * g.KernelW + kw];
        }

        return y;
    }
}
