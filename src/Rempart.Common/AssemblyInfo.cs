namespace Rempart.Common;
