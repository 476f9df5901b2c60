/* modules-stress-lib.c - a shared library test-modules-stress loads and
 * unloads over and over; its one function is what it looks up. */
int modules_stress_fn(int x);

int modules_stress_fn(int x)
{
    return x * 3 + 1;
}
